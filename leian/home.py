"""The LeiAn home directory: where the store, indexes, graph and rejects live.

Resolved from ``--home DIR``, else ``$LEIAN_HOME``, else ``./leian-data``.
An optional ``config.toml`` there holds settings, for example::

    [embeddings]
    model = "/models/bge-small-zh"

    [display]
    timezone = "Asia/Shanghai"   # how times are shown (they are stored in UTC)

Every key, its type and default is in :mod:`leian.settings` (the table in
``docs/settings.md``); the file is checked when the home is resolved, and a
mistake is one :class:`~leian.errors.ConfigError` line naming the key.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from leian.data.store import Store
from leian.errors import ConfigError
from leian.settings import Settings

__all__ = ["Home", "DEFAULT_HOME", "HOME_ENV", "NO_STORE", "toml_error_text"]

DEFAULT_HOME = "leian-data"
HOME_ENV = "LEIAN_HOME"
#: What is said when a home has no case store yet.
NO_STORE = "{root} 中还没有案件库（请先运行 `leian ingest` 或 `leian demo`）"


#: What tomllib says is wrong -> the same in Chinese (the messages of Python's tomllib parser).
_TOML_ERRORS = {
    "Cannot overwrite a value": "同一个键写了两次",
    "Escaped character is not a Unicode scalar value": "转义字符不是有效的字符",
    "Expected '=' after a key in a key/value pair": "键名后面缺少“=”",
    "Expected ']' at the end of a table declaration": "表名后面缺少“]”",
    "Expected ']]' at the end of an array declaration": "表数组名后面缺少“]]”",
    "Expected newline or end of document after a statement": "一行只能写一项设置",
    "Invalid date or datetime": "日期或时间无效",
    "Invalid hex value": "十六进制值无效",
    "Invalid initial character for a key part": "键名以无效的字符开头",
    "Invalid statement": "无法识别的一行",
    "Invalid value": "值无效（文字须加引号，如 \"Asia/Shanghai\"）",
    "Unclosed array": "数组缺少“]”",
    "Unclosed inline table": "内联表缺少“}”",
    "Unescaped '\\' in a string": "字符串中的“\\”须写成“\\\\”",
    "Unterminated string": "字符串缺少结束的引号",
    "Illegal character '\\n'": "字符串到行尾还没有结束的引号",
}
_TOML_NAMED_ERRORS = [
    (re.compile(r"Cannot declare (.+) twice"), "{} 声明了两次"),
    (re.compile(r"Cannot (?:mutate immutable|redefine) namespace (.+)"), "不能重新定义 {}"),
    (re.compile(r"Duplicate inline table key (.+)"), "内联表中的键 {} 重复"),
    (re.compile(r"(?:Found invalid|Illegal) character (.+)"), "含有无效的字符 {}"),
]
_TOML_WHERE = re.compile(r"^(?P<what>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$", re.S)


def toml_error_text(exc: tomllib.TOMLDecodeError) -> str:
    """Where and what is wrong with a TOML file, in Chinese.

    >>> try:
    ...     tomllib.loads('[display\\ntimezone = "Asia/Shanghai"\\n')
    ... except tomllib.TOMLDecodeError as exc:
    ...     print(toml_error_text(exc))
    第 1 行第 9 列：表名后面缺少“]”
    """
    found = _TOML_WHERE.match(str(exc))
    what = found.group("what") if found else str(exc)
    said = _TOML_ERRORS.get(what)
    for pattern, template in _TOML_NAMED_ERRORS:
        named = pattern.fullmatch(what)
        if said is None and named:
            said = template.format(named.group(1))
    where = "" if not found else f"第 {found.group('line')} 行第 {found.group('column')} 列：" if found.group("line") else "文件末尾："
    return where + (said or what)


@dataclass
class Home:
    """Paths and settings under one LeiAn home directory."""

    root: Path
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        """The home at ``home`` (else ``$LEIAN_HOME``, else ``./leian-data``), its ``config.toml`` validated.

        Raises:
            ConfigError: the file is not TOML, or a key is unknown, of the wrong type or out of range.
        """
        root = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().absolute()
        config_path = root / "config.toml"
        if not config_path.is_file():
            return cls(root)
        try:
            config = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_path}：配置文件格式有误，{toml_error_text(exc)}") from None
        return cls(root, Settings.from_toml(config, source=str(config_path)))

    @property
    def db_path(self) -> Path:
        return self.root / "cases.sqlite"

    @property
    def rejects_dir(self) -> Path:
        return self.root / "rejects"

    @property
    def index_dir(self) -> Path:
        return self.root / "index"

    @property
    def graph_dir(self) -> Path:
        return self.root / "graph"

    @property
    def timezone(self) -> str:
        """The zone times are shown in (``[display] timezone``, default Asia/Shanghai)."""
        return self.settings.display.timezone

    def exists(self) -> bool:
        return self.db_path.is_file()

    def open_store(self, *, readonly: bool = False) -> Store:
        if readonly and not self.exists():
            raise FileNotFoundError(NO_STORE.format(root=self.root))
        return Store(self.db_path, readonly=readonly)
