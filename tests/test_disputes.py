"""Dispute elements and type prediction on hand-written phrasings (none taken from the dev set)."""
from __future__ import annotations

import pytest

from leian.disputes.lexicon import Lexicon
from leian.disputes.types import TypeModel

# (how a person might say it, elements that must be found)
PHRASES = [
    ("楼上那家厕所的水一直往我屋头渗，顶棚都长霉了", {"卫生间", "漏水", "天花板", "发霉", "邻居"}),
    ("樓上住戶浴室漏水，我家天花板發霉掉牆皮，要求賠償維修費", {"漏水", "天花板", "发霉", "赔偿", "赔偿维修"}),
    ("包工头拿了工程款就跑路了，我们十几个人的工钱一分钱没见着", {"包工头", "跑路", "欠薪"}),
    ("老闆拖著三個月工資不發，電話也不接", {"老板", "欠薪", "跑路"}),
    ("俺家娃在小区被邻居家没拴绳的狗咬了，打了狂犬疫苗", {"子女", "被狗咬", "狂犬疫苗", "宠物犬"}),
    ("订婚时给了十八万彩礼，后来女方悔婚了，要求退彩礼", {"彩礼", "订婚", "解除婚约", "返还彩礼"}),
    ("佢哋嘅狗咬咗我個仔", {"宠物犬", "被狗咬"}),
    ("他酒后对老婆拳打脚踢，她想申请人身安全保护令", {"夫妻", "家暴", "人身安全保护令"}),
]


@pytest.mark.parametrize("text,expected", PHRASES)
def test_elements_are_found_in_colloquial_and_traditional_phrasings(text, expected):
    found = set(Lexicon.elements().names(text))
    assert expected <= found, expected - found


def test_nothing_is_found_in_nonsense_and_a_gap_form_stays_inside_its_clause():
    lexicon = Lexicon.elements()
    assert lexicon.names("asdfgh 12345") == []
    assert "欠薪" in lexicon.names("工资拖着没发")
    assert "欠薪" not in lexicon.names("工资不高。后来那件事没发生")


def test_every_subtype_but_the_catch_all_has_elements():
    from leian.data.taxonomy import Taxonomy

    covered = {sub for entry in Lexicon.elements().entries for sub in entry.subtypes}
    every = {sub for subs in Taxonomy.default().categories.values() for sub in subs}
    assert covered <= every and every - covered <= {"其他"}


# Phrasings written for this test, unlike the generator's templates.
UNSEEN = [
    ("隔壁天天半夜拖椅子，咚咚响，吵得我一宿睡不着", "邻里", "噪音"),
    ("我们在工地干了半年，包工头卷钱跑了，一分工钱没拿到", "劳动", "欠薪"),
    ("他借了我五万块打了借条，到期了一直拖着不还", "借贷", "民间借贷"),
    ("骑电动车过马路被一辆小轿车撞了，腿骨折了", "道路交通", None),
    ("健身房老板卷款跑路，我卡里还有三千多没用", "消费", "预付卡"),
    ("兩兄弟為了父親留下的老房子怎麼分吵翻了", "婚姻家庭", "继承"),
]


@pytest.mark.parametrize("text,category,subtype", UNSEEN)
def test_type_prediction_on_unseen_phrasings(text, category, subtype):
    guess = TypeModel.default().predict([text])[0]
    assert guess.category == category
    if subtype:
        assert guess.subtype == subtype
    assert 0 < guess.probability <= guess.category_probability <= 1


def test_type_probability_is_low_for_nonsense():
    guess = TypeModel.default().predict(["asdfgh 12345"])[0]
    assert guess.category_probability < 0.5
