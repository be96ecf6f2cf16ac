"""``Store.party_names_in`` (the automaton) gives exactly what one pass over every party row gives, in its order."""
from __future__ import annotations

import json
import random
from pathlib import Path

from leian.data.generate import Generator, _to_traditional
from leian.data.party_names import scan
from leian.data.record import validate
from leian.home import Home

DEVSETS = Path(__file__).resolve().parents[1] / "data" / "devsets" / "tellings"
KEYWORDS = ["噪音", "彩礼", "工资", "有限公司", "物业费", "漏水", "宅基地", "公司", "等人", "某某", "小区", "建国", "王"]


def _texts(store, rng: random.Random, n: int) -> list[str]:
    """Tellings, sentences holding stored names (as written, without spaces, in 繁體, group heads), short pieces."""
    tellings = [json.loads(line)["text"] for path in sorted(DEVSETS.glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    names = [row[0] for row in store.conn.execute("SELECT name FROM case_parties")]
    groups = [name for name, in store.conn.execute("SELECT name FROM case_parties WHERE kind = 'group'")]
    assert groups, "the generated store has groups"
    made = rng.sample(tellings, 40) + [t.split("，")[0] for t in rng.sample(tellings, 20)] + KEYWORDS
    while len(made) < n:
        name = rng.choice(names if rng.random() < 0.7 else groups)
        made.append(rng.choice([
            f"{rng.choice(tellings)[:30]}，{name}又来反映",
            f"{name.split('等')[0]}等人称对方拖欠工资",
            _to_traditional(f"{name}與鄰居發生糾紛"),
            name.replace(" ", "") + "、" + rng.choice(names),
            name[rng.randrange(max(1, len(name) - 1)):][: rng.randint(1, 7)],
            name,
        ]))
    return made


def _assert_same(store, texts: list[str]) -> int:
    named = 0
    for text in texts:
        want = scan(store, text)
        assert store.party_names_in(text) == want, text
        named += bool(want)
    return named


def test_party_names_in_answers_as_the_full_scan_before_and_after_ingests(tmp_path):
    rng = random.Random(3)
    records = list(Generator(1500, seed=21).records())
    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate(r) for r in records[:1000]])
        texts = _texts(store, rng, 400)
        named = _assert_same(store, texts)
        assert named > 250  # most texts name someone: the comparison is not of empty answers

        # An ingest adds cases, edits the parties of stored ones (renamed, a new group, one removed) and deletes some.
        edited = []
        for record in rng.sample(records[:1000], 60):
            record = dict(record, parties=[dict(p) for p in record["parties"]])
            record["parties"][0]["name"] = "欧阳" + record["parties"][0]["name"][-2:]
            record["parties"].append({"name": f"{rng.choice(['司马', '诸葛'])}明等{rng.randint(3, 40)}人"})
            edited.append(record)
        store.upsert_batch([validate(r) for r in records[1000:] + edited])
        store.delete([r["id"] for r in rng.sample(records[:1000], 30)])
        texts += _texts(store, rng, 300) + ["欧阳", "司马明等人到场", "诸葛明又来了", "司马明"]
        assert _assert_same(store, texts) > 450


def test_party_names_in_follows_another_process_writing_the_store(tmp_path):
    """A reader's automaton catches up with cases another open store (the CLI's ingest) writes."""
    home = Home.resolve(tmp_path)
    with home.open_store() as writer, home.open_store(readonly=True) as reader:
        writer.upsert_batch([validate({"id": "A1", "text": "拖欠工资", "parties": [{"name": "梁颖"}]})])
        assert reader.party_names_in("梁颖又来了") == [("梁颖", "person")]
        writer.upsert_batch([validate({"id": "A1", "text": "拖欠工资", "parties": [{"name": "陈刚等12人"}]}),
                             validate({"id": "A2", "text": "噪音", "parties": [{"name": "梁颖"}, {"name": "恒达劳务有限公司"}]})])
        for text in ("梁颖和陈刚又来了", "恒达劳务", "达劳", "陈刚"):
            assert reader.party_names_in(text) == scan(reader, text)
        assert reader.party_names_in("梁颖和陈刚又来了") == [("陈刚等12人", "group"), ("梁颖", "person")]
