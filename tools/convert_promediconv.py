"""Convert ProMediConv (Apache-2.0) into LeiAn's record format: data/samples/promediconv.jsonl.

Usage: python tools/convert_promediconv.py ../shared/datasets/promediconv/pmc_test.txt

What is taken, and how (see data/samples/README.md):
- text: ``event_description`` verbatim (the descriptions are real case write-ups);
- type: ``event_type`` verbatim (mapped onto the taxonomy at ingest);
- parties: ``disputing_parties`` split on commas; entries that name officials or
  helpers (调解员, 工作人员, 干部, 片警 ...) are not parties and go to
  ``participants``;
- handling: the mediation methods the source labels on the mediator's turns, in
  order (the dialogues themselves look model-written, so their words are not
  used); outcome 调解成功 only where the source labels a turn 达成调解协议.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

OFFICIAL = re.compile(
    r"调解员|调解委员会|工作人员|干部|书记|主任|所长|片警|协警|民警|领导|专业|技术人员|会长|村民代表|党员|调委会|司法所|工作站|人员$"
)
GENERIC = {"村民", "其他调解员"}
METHOD_SKIP = {None, "其他", "达成调解协议"}


def split_parties(field: str) -> tuple[list[dict], list[str]]:
    parties, participants = [], []
    for name in (n.strip() for n in re.split(r"[,，、]", field)):
        if not name:
            continue
        if OFFICIAL.search(name) or name in GENERIC:
            participants.append(name)
        else:
            parties.append({"name": name, "role": "当事人"})
    return parties, participants


def convert(row: dict, number: int) -> dict:
    parties, participants = split_parties(row["disputing_parties"])
    methods: list[str] = []
    for turn in row["dialog"]:
        strategy = turn.get("strategy")
        if turn.get("speaker") == "sys" and strategy not in METHOD_SKIP and strategy not in methods:
            methods.append(strategy)
    agreed = any(turn.get("strategy") == "达成调解协议" for turn in row["dialog"])
    record = {
        "id": f"PMC-{number:03d}",
        "text": row["event_description"].strip(),
        "type": row["event_type"],
        "parties": parties,
        "handling": ("调解方法：" + "、".join(methods)) if methods else None,
        "outcome": "调解成功" if agreed else None,
        "tags": ["ProMediConv"],
        "participants": participants,
        "source": f"ProMediConv Data/pmc_test.txt line {number} (Apache-2.0)",
    }
    return {k: v for k, v in record.items() if v not in (None, [], "")}


def main(source: str) -> None:
    out = Path(__file__).resolve().parents[1] / "data" / "samples" / "promediconv.jsonl"
    rows = [json.loads(line) for line in Path(source).read_text(encoding="utf-8").splitlines() if line.strip()]
    with out.open("w", encoding="utf-8") as handle:
        for number, row in enumerate(rows, start=1):
            handle.write(json.dumps(convert(row, number), ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} records to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
