"""Copy the front-end libraries the web app serves from npm's node_modules into web/static/vendor/.

Run from the repository root after ``npm ci`` (it runs ``npm ci`` itself when
node_modules is missing). Nothing is fetched at run time: the app serves these
copies, so it works on an air-gapped intranet. The licence of each library is
copied beside it.

Usage: python tools/vendor_assets.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["ASSETS", "vendor"]

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "web" / "static" / "vendor"

#: File in node_modules -> name under web/static/vendor/.
ASSETS = {
    "chart.js/dist/chart.umd.min.js": "chart.umd.min.js",
    "chart.js/LICENSE.md": "chart.js.LICENSE.md",
    "cytoscape/dist/cytoscape.min.js": "cytoscape.min.js",
    "cytoscape/LICENSE": "cytoscape.LICENSE",
}


def vendor(root: Path = ROOT, target: Path = TARGET) -> list[Path]:
    """Copy every asset; returns the files written."""
    modules = root / "node_modules"
    if not modules.is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=root, check=True)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source, name in ASSETS.items():
        path = modules / source
        if not path.is_file():
            raise SystemExit(f"missing {path}: run `npm ci` in {root}")
        written.append(Path(shutil.copyfile(path, target / name)))
    return written


if __name__ == "__main__":
    for path in vendor():
        print(f"vendored {path.relative_to(ROOT)}", file=sys.stderr)
