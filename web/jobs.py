"""Uploads ingested in the background, so the page can show how far along they are.

One job per upload: a thread runs :func:`leian.web.queries.ingest_file` on the
saved file while the page polls ``GET /api/ingest/<job_id>``. What a job
reports is real: its phase (写入案件库, then 更新检索索引与图谱) and how many
cases the store has written since the job started. Jobs live in the memory of
the server process (the report of a finished job is also in the audit log).

Examples
--------
>>> job = IngestJob("cases.jsonl", "adm")
>>> job.to_dict()["status"], job.to_dict()["phase_name"]
('running', '排队中')
"""
from __future__ import annotations

import logging
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PHASES", "UPLOAD_TYPES", "IngestJob", "IngestJobs", "safe_filename"]

_log = logging.getLogger(__name__)

UPLOAD_TYPES = (".jsonl", ".csv", ".xlsx")

#: Phase -> its name on screen, in order.
PHASES = {"queued": "排队中", "store": "校验并写入案件库", "index": "更新检索索引与图谱", "done": "完成", "failed": "失败"}


@dataclass
class IngestJob:
    filename: str
    username: str
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    phase: str = "queued"
    start_seq: int = 0
    written: int = 0
    report: dict[str, Any] | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        return "done" if self.phase == "done" else "failed" if self.phase == "failed" else "running"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "filename": self.filename, "status": self.status, "phase": self.phase,
                "phase_name": PHASES[self.phase], "written": self.written, "report": self.report, "error": self.error}


class IngestJobs:
    """The ingest jobs of one server process; one runs at a time (the store has one writer)."""

    def __init__(self) -> None:
        self._jobs: dict[str, IngestJob] = {}
        self._run_lock = threading.Lock()

    def upload(self, services: Any, user: Any, upload: Any) -> IngestJob:
        """Save an uploaded file (a werkzeug ``FileStorage``) and start ingesting it.

        Raises:
            QueryError: no file, or not a JSONL, CSV or XLSX file (nothing is saved).
        """
        from leian.web.queries import QueryError

        if upload is None or not upload.filename:
            raise QueryError("请选择要导入的文件")
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in UPLOAD_TYPES:
            raise QueryError(f"不支持的文件类型 {suffix or '（无扩展名）'}，请上传 JSONL、CSV 或 XLSX")
        folder = Path(tempfile.mkdtemp(prefix="leian-upload-"))  # deleted when the job ends
        path = folder / safe_filename(upload.filename, suffix)
        upload.save(path)
        return self.start(services, user, folder, path, upload.filename)

    def start(self, services: Any, user: Any, folder: Path, path: Path, filename: str) -> IngestJob:
        """Ingest ``path`` (inside ``folder``, which is deleted afterwards) in a new thread."""
        from leian.web.queries import ingest_file

        job = IngestJob(filename, user.username)
        self._jobs[job.id] = job

        def run() -> None:
            try:
                with self._run_lock:
                    job.start_seq = services.store.last_change()
                    job.phase = "store"
                    job.report = ingest_file(services, user, path, filename, on_indexing=lambda: setattr(job, "phase", "index"))
                    job.written = services.store.last_change() - job.start_seq
                    job.phase = "done"
            except Exception as exc:  # noqa: BLE001 - the page shows what went wrong instead of waiting forever
                _log.exception("ingest of %s failed", filename)
                job.error = f"{type(exc).__name__}: {exc}"
                job.phase = "failed"
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        threading.Thread(target=run, name=f"ingest-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str, services: Any) -> IngestJob | None:
        """The job, with the count of cases written so far brought up to date."""
        job = self._jobs.get(job_id)
        if job is not None and job.phase == "store":
            job.written = services.store.last_change() - job.start_seq
        return job


def safe_filename(filename: str, suffix: str) -> str:
    """The uploaded file's own name (so reject messages name it), reduced to letters, digits, 汉字, - and _.

    >>> safe_filename("../../网格 上报.jsonl", ".jsonl"), safe_filename("...", ".csv")
    ('网格_上报.jsonl', 'upload.csv')
    """
    stem = re.sub(r"[^\w\-]+", "_", Path(filename).stem)[:80].strip("_")
    return f"{stem or 'upload'}{suffix}"
