"""Calibration of the near-duplicate threshold on the bundled sample.

Three kinds of pairs are scored with the sentence encoder (cosine of unit
vectors):

* duplicates: two stored cases with the same text (PMC-001 and PMC-005 are one
  case twice in the source) or the same dispute told twice in the source
  (:data:`SOURCE_RETELLINGS`, found by reading the closest pairs);
* paraphrases: :data:`PARAPHRASES`, the same dispute retold in other words
  (hand-written for LeiAn, the way a second office registers a case it hears
  about again), each against the case it retells;
* different cases of the same 大类: every other pair within one category, the
  hardest negatives the sample has.

Run ``python -m leian.library.calibrate --home DIR`` on a home holding the
sample; docs/library.md records the numbers and the threshold chosen.

Examples
--------
>>> sorted(PARAPHRASES)[:2]
['PMC-009', 'PMC-017']
"""
from __future__ import annotations

import itertools
import json
from collections import defaultdict

import click
import numpy as np

from leian.data.store import Store

__all__ = ["PARAPHRASES", "SOURCE_RETELLINGS", "calibration_scores", "main"]

#: Hand-written retellings of sample cases, keyed by the case they retell.
PARAPHRASES: dict[str, str] = {
    "PMC-009": "里山街道居民于老汉的儿子于某患病后，儿媳李某不再照顾丈夫，还把他送回于老汉家。于老汉年纪大了，"
    "无力照看生病的儿子，于是到司法所求助，请司法所劝说李某把丈夫接回家、履行扶养义务。李某随后也来到司法所申请调解，"
    "称于某生病以后常常无故打骂她，她忍受不了才把丈夫送到公公家。",
    "PMC-017": "2013年12月20日晚上九点前后，某村几百名村民把一家合成材料厂团团围住，说工厂排放有毒气体，影响村里的环境和"
    "大家的身体健康，要求厂里停产。镇调委会得知后立即组成工作组赶到现场。村民情绪非常激动，用三辆车堵住厂门，车辆和"
    "上下班的工人都无法进出，个别村民还扬言要炸掉工厂，一场由环境污染引发的群体性事件随时可能爆发。",
    "PMC-040": "西平县师灵镇白庙村村民陈某和周某本是好朋友。2007年3月16日晚，两人在村里商店下象棋，因为赌注起了争执，"
    "拉扯中陈某咬住了周某的右耳，把耳朵上端咬掉。周某被送医治疗。起初两家还能相互体谅，可医疗费越花越多，周家提出要"
    "陈某赔耳朵，陈某则害怕医药费是个无底洞，甚至想过轻生。",
    "PMC-050": "2021年的一天早晨，寿某像平常一样骑电动自行车去废铁市场上班，经过枫桥镇郭店村时车速太快，来不及避让，"
    "撞上了行人王某，王某后脑着地，伤得很重。诸暨市公安局交警大队认定寿某负全部责任，王某无责。一个多月后王某抢救无效"
    "去世，住院期间花去医药费二十三万多元。王某去世后，家属请枫桥镇人民调解委员会出面调解赔偿问题。",
    "PMC-058": "2007年8月，西平县二郎乡赵庄村的郑某和杜某为一块荒地的使用权吵了起来，吵架时郑某突发脑溢血死亡。郑某的家属"
    "不肯调解，开口索赔30万元，还带着亲属到乡政府闹事，扬言不答应就集体上访。家属情绪激动，围住政法干警辱骂，调解一时僵住。",
    "PMC-093": "退休职工钱某早年丧偶，前妻留下一个儿子，已经成家。钱某后来与李某再婚，二十多年来两人关系一直不好，经常吵架"
    "打骂。钱某病情越来越重，自觉时日不多，便立下遗嘱：祖上传下来的两间住房留给儿子，4万元存款也全部给儿子，遗嘱里一个字"
    "也没提李某。李某年纪也大了，没有劳动能力，为这份遗嘱夫妻俩又吵了起来，李某于是找到调委会要个说法。",
}


#: Pairs of sample cases that tell the same dispute in other words (PMC-075 renames 霍某 to 翟某).
SOURCE_RETELLINGS = {frozenset(("PMC-074", "PMC-075"))}


def calibration_scores(store: Store, encoder: object) -> dict[str, list[float]]:
    """Cosine scores of duplicate, paraphrase and same-type-different pairs in ``store``."""
    from leian.embeddings.cache import cached_vectors
    from leian.embeddings.text import head, prepare, prepare_query

    cases = list(store.iter_cases())
    vectors = cached_vectors(store, encoder, [head(prepare(c)) for c in cases])
    row_of = {c.id: i for i, c in enumerate(cases)}
    scores: dict[str, list[float]] = {"duplicate": [], "paraphrase": [], "same_type_different": []}
    by_category: dict[str | None, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        by_category[case.category].append(i)
    for rows in by_category.values():
        for a, b in itertools.combinations(rows, 2):
            same = cases[a].search_text == cases[b].search_text
            same = same or frozenset((cases[a].id, cases[b].id)) in SOURCE_RETELLINGS
            kind = "duplicate" if same else "same_type_different"
            scores[kind].append(float(vectors[a] @ vectors[b]))
    known = [case_id for case_id in PARAPHRASES if case_id in row_of]
    retold = encoder.encode([prepare_query(PARAPHRASES[case_id]) for case_id in known])
    scores["paraphrase"] = [float(vectors[row_of[case_id]] @ v) for case_id, v in zip(known, retold)]
    return scores


@click.command()
@click.option("--home", required=True, type=click.Path(file_okay=False, exists=True), help="A LeiAn home holding the sample.")
def main(home: str) -> None:
    """Print the score distribution of each kind of pair, as JSON."""
    from leian.embeddings.encoder import load_encoder, model_for_home
    from leian.home import Home

    resolved = Home.resolve(home)
    with resolved.open_store() as store:
        scores = calibration_scores(store, load_encoder(model_for_home(resolved)))
    summary = {
        kind: {"pairs": len(values), "min": round(min(values), 4), "p99": round(float(np.percentile(values, 99)), 4),
               "max": round(max(values), 4)}
        for kind, values in scores.items() if values
    }
    click.echo(json.dumps(summary, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
