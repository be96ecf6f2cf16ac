"""Uploads ingested in the background, so the page can show how far along they are.

One job per upload: a thread runs :func:`leian.web.queries.ingest_file` on the
saved file while the page polls ``GET /api/ingest/<job_id>``. The upload does
what ``leian ingest`` does: every good record is stored, every bad one is named
(file, line, field) and kept in a rejects file, the indexes and the graph are
brought up to date, and the run is audited. What a job reports is real: its
phase (写入案件库, then 更新检索索引与图谱), how many cases are committed so
far, and while the indexes are updated the step under way with its count, rate
and ETA (:mod:`leian.progress`, the numbers a terminal's progress bar shows).
Jobs live in the memory of the server process; every finished run is also
in the store's ingest log (:func:`leian.web.queries.ingest_runs`), listed after
a restart with its rejects file.

Uploads are saved under ``<home>/uploads/leian-upload-<pid>-*`` (owner only) and
removed when their job ends; those a killed server left behind are removed when
the next one starts.

Examples
--------
>>> job = IngestJob("cases.jsonl", "adm")
>>> job.to_dict()["status"], job.to_dict()["phase_name"]
('running', '排队中')
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leian.data.private import private_dir
from leian.data.readers import FORMATS

if TYPE_CHECKING:
    from leian.data.ingest import IngestReport
    from leian.home import Home
    from leian.web.accounts import User
    from leian.web.services import Services

__all__ = ["PHASES", "UPLOAD_PREFIX", "UPLOAD_TYPES", "IngestJob", "IngestJobs", "remove_stale_uploads", "safe_filename"]

_log = logging.getLogger(__name__)

#: What the upload accepts: what ``leian ingest`` reads.
UPLOAD_TYPES = tuple(FORMATS)
UPLOAD_PREFIX = "leian-upload-"

#: Phase -> its name on screen, in order.
PHASES = {"queued": "排队中", "store": "校验并写入案件库", "index": "更新检索索引与图谱", "done": "完成", "failed": "失败"}


@dataclass
class IngestJob:
    filename: str
    username: str
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    phase: str = "queued"
    written: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None
    #: The index step under way (:meth:`leian.progress.Progress.to_dict`), None before the first.
    progress: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        return "done" if self.phase == "done" else "failed" if self.phase == "failed" else "running"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "status": self.status, "phase": self.phase,
                "phase_name": PHASES[self.phase], "written": self.written, "report": self.report, "error": self.error,
                "progress": self.progress}


class IngestJobs:
    """The ingest jobs of one server process; one runs at a time (the store has one writer)."""

    def __init__(self, home: Home) -> None:
        self._jobs: dict[str, IngestJob] = {}
        #: Held by the ingest running now, and by the server's start-up catch-up (one writer at a time).
        self.run_lock = threading.Lock()
        self.uploads_dir = Path(home.root) / "uploads"
        remove_stale_uploads(self.uploads_dir)

    def upload(self, services: Services, user: User, upload: Any) -> IngestJob:
        """Save an uploaded file (a werkzeug ``FileStorage``) and start ingesting it.

        Raises:
            QueryError: no file, or not a file ``leian ingest`` reads (nothing is saved).
        """
        from leian.web.queries import QueryError

        if upload is None or not upload.filename:
            raise QueryError("请选择要导入的文件")
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in UPLOAD_TYPES:
            listed = "、".join(t.lstrip(".").upper() for t in UPLOAD_TYPES)
            raise QueryError(f"不支持的文件类型 {suffix or '（无扩展名）'}，请上传 {listed} 文件")
        folder = Path(tempfile.mkdtemp(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-", dir=private_dir(self.uploads_dir)))
        try:
            path = folder / safe_filename(upload.filename, suffix)
            upload.save(path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.start(services, user, folder, path, upload.filename)

    def start(self, services: Services, user: User, folder: Path, path: Path, filename: str) -> IngestJob:
        """Ingest ``path`` (inside ``folder``, which is deleted afterwards) in a new thread."""
        from leian.progress import listening
        from leian.web.queries import ingest_file

        job = IngestJob(filename, user.username)
        self._jobs[job.id] = job

        def committed(report: IngestReport) -> None:
            job.written = report.stored

        def run() -> None:
            try:
                with self.run_lock, listening(lambda p: setattr(job, "progress", p.to_dict())):
                    job.phase = "store"
                    job.report = ingest_file(services, user, path, filename, on_commit=committed,
                                             on_indexing=lambda: setattr(job, "phase", "index"))
                    job.phase = "done"
            except Exception as exc:  # noqa: BLE001 - the page shows what went wrong instead of waiting forever
                _log.exception("ingest of %s failed", filename)
                job.error = f"导入中断（{type(exc).__name__}），已写入的 {job.written} 件案件保留；详情见服务器日志"
                job.phase = "failed"
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        threading.Thread(target=run, name=f"ingest-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> IngestJob | None:
        return self._jobs.get(job_id)


def remove_stale_uploads(uploads_dir: Path) -> list[Path]:
    """Remove the upload folders of server processes that are gone (a killed server leaves its upload,
    a whole file of personal data, behind); returns what was removed. A live server's uploads are kept."""
    removed = []
    for folder in sorted(uploads_dir.glob(f"{UPLOAD_PREFIX}*")) if uploads_dir.is_dir() else []:
        pid = folder.name[len(UPLOAD_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def safe_filename(filename: str, suffix: str) -> str:
    """The uploaded file's own name (so reject messages name it), reduced to letters, digits, 汉字, - and _.

    >>> safe_filename("../../网格 上报.jsonl", ".jsonl"), safe_filename("...", ".csv")
    ('网格_上报.jsonl', 'upload.csv')
    """
    stem = re.sub(r"[^\w\-]+", "_", Path(filename).stem)[:80].strip("_")
    return f"{stem or 'upload'}{suffix}"
