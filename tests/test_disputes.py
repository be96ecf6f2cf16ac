"""Dispute elements and type prediction on hand-written phrasings (none taken from the dev set)."""
from __future__ import annotations

import pytest

from leian.disputes.lexicon import Lexicon, LexiconError
from leian.disputes.types import TypeGuess, TypeModel, fit, model_version, percent_text, training_examples

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
    # Forms that count only in some phrases or beside another element still count where they mean it.
    ("樓上的水一直往下滲，牆角都濕透了", {"漏水", "邻居"}),
    ("我騎電動車過路口，被一輛小轎車撞了", {"非机动车", "机动车", "交通事故"}),
    ("他闯红灯直接怼我车门上了 腿都折了", {"交通事故", "人身伤害"}),
    ("隔壁半夜还在打麻将，吵得我睡不着", {"深夜扰民", "噪音", "生活噪音源"}),
    ("俺娃在学校上体育课摔骨折了，老师也不管", {"子女", "学校", "学生伤害"}),
    ("家具厂喷漆熏得人头疼，还呛鼻子", {"大气污染"}),
    ("他喝了酒就掐我脖子，还拿皮带抽我", {"家暴"}),
    ("昨晚有人翻墙进来把我家的狗偷走了", {"宠物犬", "盗窃"}),
    ("在网上买的电饭煲用了三天就坏了，卖家不给换", {"商品质量", "商家"}),
    ("我在他店里买的手机用了一个月就烂了，他不给退", {"商品质量"}),
    ("旁边工地夜间施工噪音太大，吵得睡不着", {"工厂", "工业噪声"}),
    ("郭桂敏欠王宇林的钱还没还", {"欠款", "拒不还钱"}),  # a name between 欠 and 钱
    ("他欠我三万块，说好年底还，到现在都没还", {"欠款", "拒不还钱"}),
    # Everyday phrasings once answered 没有可识别的纠纷内容 (or 隔壁狗天天叫 typed 宠物伤人).
    ("隔壁狗天天叫", {"邻居", "生活噪音源"}),
    ("快递丢了不赔", {"服务合同", "赔偿"}),
    ("他家把门口的路堵了，车开不进来", {"堵路"}),
    ("公司没跟我签合同就把我开了", {"辞退"}),
    ("挖煤把地挖塌了", {"采矿"}),
    ("我入了股，现在账都不让查", {"股东"}),
    ("门口修路，生意做不成了", {"经营损失"}),
    ("排队时被人骂了几句", {"口角"}),
    ("他家砍了我山上的树", {"山林"}),
    ("對面那家的狗整晚叫個不停", {"生活噪音源"}),
    ("快遞把我的東西弄丟了，不賠", {"服务合同", "赔偿"}),
    ("婆婆天天跟我吵，日子没法过", {"婆媳"}),
    ("俺爹八十了，哥几个谁都不愿养", {"老人", "赡养"}),
    ("老爷子走了，房子兄弟几个争", {"遗产"}),
    ("邻居在路上砌了墙，我家出不去了", {"堵路"}),
    ("邻居把公共走廊占了放鞋柜", {"占用公共空间"}),
    ("老闆拖了我們半年工資", {"欠薪"}),
    ("楼道的灯坏了半年没人管", {"电梯"}),
    ("出去打工回来，地被别人种了", {"承包地"}),
    ("病人死了，家属把医生打了", {"医闹"}),
    ("停在楼下的车被人划了一道", {"损毁财物"}),
    ("房子卖了三年了，还不给过户", {"房屋买卖"}),
    ("隔壁的羊跑到我地里把菜吃了", {"养殖"}),
]

# Phrases where a short form means something else: the element must not be found (the audit's false positives).
NOT_THESE = [
    ("只见他的双膝都有血渗出，两手也红肿", {"漏水"}),  # PMC-090, an injury
    ("周某咬住对方右耳，导致其耳上端脱落", {"发霉"}),  # PMC-040, an injury
    ("楼上卫生间漏水把我家天花板泡坏了，找他他不管", {"发霉", "商品质量"}),
    ("孩子气坏了，把玩具也摔坏了", {"商品质量"}),
    ("物业收了钱啥也不干，电梯坏了一个月没人修", {"商品质量"}),
    ("新买的家具用了两个月就变形，还有个别螺丝脱落", {"发霉"}),
    ("他从小就爱顶撞父母，跌跌撞撞长大", {"交通事故"}),
    ("要求工伤事故赔偿，厂里说是他自己操作失误出的事故", {"交通事故"}),
    ("手推的装货小车撞到了他的腰", {"机动车", "交通事故"}),
    ("孙女士在天猫店铺买了一台光猫", {"子女", "宠物犬"}),
    ("这帮人狗仗人势，说话狗屁不通", {"宠物犬"}),
    ("两口子为这事吵得不可开交", {"噪音"}),
    ("几个部门互相踢皮球，谁也不管", {"打架"}),
    ("他偷偷把机器拉走，还偷笑", {"盗窃"}),
    ("石材厂偷排污水到鱼塘", {"盗窃"}),
    ("被告把水源掐断了", {"家暴"}),
    ("出门打了个出租车去医院", {"租赁"}),
    ("某财产保险股份有限公司在交强险限额内赔付", {"股东"}),
    ("获得拆迁补偿款110万元", {"报警"}),
    ("借条上加盖了公章", {"建房", "建设工程"}),
    ("他骑车摔倒，小腿骨折住院", {"学生伤害"}),
    ("双方发生肢体冲突，到乡政府闹事", {"医闹"}),
    ("合同到期退租，房东扣了押金", {"借款", "医疗费用"}),
    ("凌晨三点突发心梗，次日凌晨不治", {"深夜扰民"}),
    ("他朋友圈天天晒吃晒喝，就是不还钱", {"名誉"}),
    ("把情绪稳定下来再分头做工作", {"工人"}),
    ("与企业主协商赔偿", {"业主"}),
    ("成都市锦江区水井坊街道", {"灌溉用水"}),
    ("各部门通过合法渠道反映诉求", {"灌溉用水"}),
    ("老板跑路了，俺们工地上十几个人三个月工钱没得着落", {"工厂", "包工头"}),  # a 工地 is no 工厂, and nobody named a 包工头
    ("他先动手打人，我没还手", {"拒不还钱"}),
    ("建议她在家里安装微型摄像头，全天候监控老公", {"空调外机", "电梯"}),  # PMC-008, a marriage: no neighbour, no 物业
    ("学校已调取监控，监控拍下了过程", {"电梯"}),  # 监控 as evidence is no 公共设施
    ("刘某因代收快递丢失对其不公", {"服务合同"}),  # a neighbour's favour, no delivery contract
    ("楼道的灯坏了半年没人管", {"商品质量"}),  # a broken lamp is a 公共设施, nothing bought
]


@pytest.mark.parametrize("text,expected", PHRASES)
def test_elements_are_found_in_colloquial_and_traditional_phrasings(text, expected):
    found = set(Lexicon.elements().names(text))
    assert expected <= found, expected - found


@pytest.mark.parametrize("text,absent", NOT_THESE)
def test_a_short_form_in_another_sense_gives_no_element(text, absent):
    found = set(Lexicon.elements().names(text))
    assert not absent & found, absent & found


def test_the_method_lexicon_counts_only_what_the_mediator_did():
    methods = Lexicon.methods()
    assert "引导诉讼" not in methods.names("双方达成协议后，共同向凉州区人民法院申请司法确认。")
    assert "引导诉讼" in methods.names("分歧较大，引导当事人依法向人民法院起诉。")
    assert "跟踪回访" not in methods.names("已受理，调解员正在跟进。")
    assert "维修整改" not in methods.names("另获悉老街已列入旧城改造范围。")
    assert "救助帮扶" not in methods.names("体育老师未在器械旁保护帮扶")


@pytest.mark.parametrize("entries,message", [
    ([{"name": "漏水", "forms": [{"form": "渗", "not_in": ["血流"]}]}], "elements.json 第 1 条「漏水」说法「渗」：not_in 短语「血流」不含该说法"),
    ([{"name": "交通事故", "forms": [{"form": "事故", "only_with": ["机动车"]}]}], "第 1 条「交通事故」说法「事故」：only_with 中的「机动车」不是"),
    ([{"name": "漏水", "forms": ["漏水"]}, {"name": "漏水", "forms": ["渗水"]}], "第 2 条「漏水」：名称与前面的词条重复"),
    ([{"name": "漏水", "forms": []}], "第 1 条「漏水」：forms 须为非空列表"),
    ([{"name": "漏水", "forms": ["漏水"], "form": "x"}], "第 1 条「漏水」：未知字段 form"),
    ([{"name": "漏水", "forms": [{"form": "渗", "unless": ["血渗"]}]}], "第 1 条「漏水」说法「渗」：未知字段 unless"),
    ([{"name": "漏水", "forms": ["…"]}], "第 1 条「漏水」：说法 \"…\" 须为非空字符串"),
    ([{"forms": ["漏水"]}], "第 1 条：须为带非空 name 的对象"),
])
def test_a_malformed_lexicon_is_refused_naming_the_entry(entries, message):
    with pytest.raises(LexiconError) as caught:
        Lexicon(entries, "elements.json")
    assert message in str(caught.value)


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
    ("隔壁狗天天叫", "邻里", "噪音"),  # 狗…叫 is noise, not a bite
    ("快递丢了不赔", "消费", "服务合同"),
]


@pytest.mark.parametrize("text,category,subtype", UNSEEN)
def test_type_prediction_on_unseen_phrasings(text, category, subtype):
    guess = TypeModel.default().predict([text])[0]
    assert guess.category == category
    if subtype:
        assert guess.subtype == subtype
    assert 0 < guess.probability <= guess.category_probability <= 1


def test_type_label_never_claims_certainty():
    # The real model is all but sure of a plain leak; what it shows is still not "100%".
    guess = TypeModel.default().predict(["楼上卫生间漏水，我家天花板发霉了"])[0]
    assert guess.probability >= 0.995
    assert guess.label() == "邻里 › 漏水（99%以上）" and guess.to_dict()["probability"] > 0.99
    unsure = TypeGuess("邻里", "漏水", 0.004, 0.001, {}, {})
    assert unsure.label() == "邻里（不足1%）"
    assert [percent_text(p) for p in (0.994, 0.5, 0.006)] == ["99%", "50%", "1%"]


def test_type_probability_is_low_for_nonsense():
    guess = TypeModel.default().predict(["asdfgh 12345"])[0]
    assert guess.category_probability < 0.5


def test_the_type_model_is_kept_on_disk_without_pickle(tmp_path):
    """The home's cached model is arrays read with allow_pickle=False and predicts as the trained one does; a
    pickle of older code in the folder is never loaded (it would run code) and is removed."""
    import pickle

    planted = tmp_path / "unpickled"
    legacy = tmp_path / f"types-{model_version()}.pkl"
    # A pickle that, if loaded, would create a file.
    legacy.write_bytes(pickle.dumps(type("P", (), {"__reduce__": lambda self: (open, (str(planted), "w"))})()))
    texts = ["樓上衛生間漏水，我家天花板都發霉了", "老板跑路了，三个月工钱没得着落", "asdfgh 12345"]
    trained = TypeModel.default()
    from leian.disputes import types

    kept = dict(types._loaded)
    types._loaded.clear()  # as a new process: from the folder, else trained and written there
    try:
        written = TypeModel.default(tmp_path)
        types._loaded.clear()
        read = TypeModel.default(tmp_path)
        saved = tmp_path / f"types-{model_version()}.npz"
        whole = saved.read_bytes()
        saved.write_bytes(whole[: len(whole) // 2])  # a write cut short (a full disk, a kill): retrained, not a crash
        types._loaded.clear()
        retrained = TypeModel.default(tmp_path)
    finally:
        types._loaded.clear()
        types._loaded.update(kept)  # the process's model again: later tests need not train one
    assert not planted.exists() and not legacy.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f"types-{model_version()}.npz"]
    assert saved.stat().st_size == len(whole)
    for model in (written, read, retrained):
        assert model.version == trained.version and model.subtypes == trained.subtypes
        assert model.predict(texts) == trained.predict(texts)
    import numpy as np

    with np.load(tmp_path / f"types-{model_version()}.npz", allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_type_features_are_what_the_fitted_vectorizer_gives():
    """TypeModel.features computes the TF-IDF rows itself (no per-call input checks): bit for bit scikit-learn's
    transform, over the tuning half, the sample, generated records, and texts with no known or no features."""
    import json
    from pathlib import Path

    import numpy as np

    from leian.data.generate import Generator
    from leian.data.normalize import normalize_text

    root = Path(__file__).resolve().parents[1] / "data"
    texts = [json.loads(line)["text"] for line in (root / "devsets" / "tellings" / "tune.jsonl").read_text(encoding="utf-8").splitlines()]
    texts += [json.loads(line)["text"] for line in (root / "samples" / "promediconv.jsonl").read_text(encoding="utf-8").splitlines()]
    texts += [record["text"] for record in Generator(200, seed=3).records()]
    texts = [normalize_text(text) for text in texts] + ["", "你好", "asdfgh 12345", "ＡＢＣ"]
    vectorizer, category_model, subtype_model = fit(training_examples())
    model = TypeModel.from_fitted(vectorizer, category_model, subtype_model, "test")
    ours, theirs = model.features(texts), vectorizer.transform(texts)
    assert ours.shape == theirs.shape
    for part in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(ours, part), getattr(theirs, part)), part
