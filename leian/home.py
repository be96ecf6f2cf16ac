"""The LeiAn home directory: where the store, indexes, graph and rejects live.

Resolved from ``--home DIR``, else ``$LEIAN_HOME``, else ``./leian-data``.
An optional ``config.toml`` there holds settings such as the embedding model::

    [embeddings]
    model = "/models/bge-small-zh"

    [graph]
    uri = "bolt://graph.example:7687"

    [display]
    timezone = "Asia/Shanghai"   # how times are shown (they are stored in UTC)

    [repeats]                    # respondent chains and 群体性纠纷 (docs/graph.md)
    respondent_min_cases = 3
    respondent_window_days = 180
    group_min_claimants = 5
    group_window_days = 30
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leian.data.store import Store
from leian.errors import ConfigError

__all__ = ["Home", "DEFAULT_HOME", "HOME_ENV"]

DEFAULT_HOME = "leian-data"
HOME_ENV = "LEIAN_HOME"


@dataclass
class Home:
    """Paths and settings under one LeiAn home directory."""

    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        root = Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().absolute()
        config_path = root / "config.toml"
        config: dict[str, Any] = {}
        if config_path.is_file():
            try:
                config = tomllib.loads(config_path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{config_path}：配置文件格式有误：{exc}") from None
        return cls(root, config)

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

    def setting(self, section: str, key: str, default: Any = None) -> Any:
        return self.config.get(section, {}).get(key, default)

    @property
    def timezone(self) -> str:
        """The zone times are shown in (``[display] timezone``, default Asia/Shanghai); checked on first use."""
        from leian.clock import DEFAULT_TIMEZONE, timezone

        name = self.setting("display", "timezone", DEFAULT_TIMEZONE)
        try:
            timezone(name)
        except ValueError as exc:
            raise ConfigError(f"{self.root / 'config.toml'}：[display] timezone：{exc}") from None
        return name

    def exists(self) -> bool:
        return self.db_path.is_file()

    def open_store(self, *, readonly: bool = False) -> Store:
        if readonly and not self.exists():
            raise FileNotFoundError(f"{self.root} 中还没有案件库（请先运行 `leian ingest` 或 `leian demo`）")
        return Store(self.db_path, readonly=readonly)
