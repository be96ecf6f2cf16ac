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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from leian.data.store import Store
from leian.errors import ConfigError
from leian.settings import Settings

__all__ = ["Home", "DEFAULT_HOME", "HOME_ENV", "NO_STORE"]

DEFAULT_HOME = "leian-data"
HOME_ENV = "LEIAN_HOME"
#: What is said when a home has no case store yet.
NO_STORE = "{root} 中还没有案件库（请先运行 `leian ingest` 或 `leian demo`）"


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
            raise ConfigError(f"{config_path}：配置文件格式有误：{exc}") from None
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
