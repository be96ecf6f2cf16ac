"""What the dispute is: a record's text without the 笔录 header, the people, the dates and the mediation's account.

Mediation records (调解笔录) open with who, when and where (申请人：…，女，52岁，住…；
调解员：…；时间：…) and close with how it was settled; long records then look alike
to a sentence encoder whatever the dispute. :func:`dispute_text` keeps the
dispute (纠纷经过 and 诉求):

* header sentences go (申请人：… / 被申请人：… / 调解员：… / 时间：…, and a further party
  described on the same line, 蒋秀梅，女，45岁), and so do sentences about the mediation's own
  setting (…人民调解委员会易德明主持调解; 镇综治中心);
* the account of the mediation goes: from the first line or sentence after the facts that opens
  with 调解过程 / 调解员指出 / 经调解 / 协议 … to the end;
* the names read from the header are replaced by surname + 某 (杨德兵 → 杨某, as anonymised records
  write them), and dates, times of day, ages, amounts and phone numbers are removed from what is left.

A text without that layout (a short query, a complaint) only loses its dates, ages and amounts.

Examples
--------
>>> dispute_text("申请人：刘某，女，52岁，住某小区502室。\\n纠纷事实：2024年2月起楼上漏水，要求赔偿6800元。\\n调解过程：调解员释明法律。")
'楼上漏水，要求赔偿。'
>>> dispute_text("申请人：左秀英，女，72岁；委托代理人杭丽娜（其女）。\\n调解员：房玉洁，2024年11月6日。\\n"
...              "2024年10月9日18时许，鲍志强驾驶电动自行车将左秀英撞倒。\\n调解员按责任比例核算。")
'鲍志强驾驶电动自行车将左某撞倒。'
>>> dispute_text("楼上漏水 天花板发霉")
'楼上漏水 天花板发霉'
"""
from __future__ import annotations

import re

__all__ = ["dispute_text"]

_LABELS = (r"申请人|被申请人|申请方|被申请方|当事人|第三人|委托代理人|代理人|调解员|调解人|调解组织|记录人|书记员|主持人|"
           r"主持调解|时间|地点|日期|调解时间|调解地点|调解日期|受理日期|受理时间|案号|编号|参加人|参加人员|到场人员")
#: A header sentence: a label and a colon (申请人：…, 被申请人(一)：…, 调解员：…; not 调解员释明：…).
_HEADER = re.compile(rf"^\s*({_LABELS})\s*(?:[(（][^)）]{{0,8}}[)）]|[一二三甲乙丙]|\d)?\s*[：:]")
#: A sentence of a header line that is not the dispute: a label without a colon, or too short to tell one.
_HEADER_REST = re.compile(rf"^\s*({_LABELS})")
_HEADER_REST_CHARS = 30
#: A further party described in a header line: 蒋秀梅，女，45岁 / 何俊杰，男.
_PERSON = re.compile(r"^\s*([\u4e00-\u9fff]{2,4})[，,]\s*[男女]")
#: The names a header gives: after the label's colon, or before ，男 / ，女.
_PEOPLE = r"申请人|被申请人|申请方|被申请方|当事人|第三人|委托代理人|代理人|调解员|调解人|记录人|书记员|主持人|参加人"
_NAME_AFTER_LABEL = re.compile(rf"(?:{_PEOPLE})\s*(?:[(（][^)）]{{0,8}}[)）]|[一二三甲乙丙]|\d)?\s*[：:]\s*([\u4e00-\u9fff]{{2,4}}?)(?=[，,（(；;。、\s]|等|$)")
_NAME_BEFORE_SEX = re.compile(r"([\u4e00-\u9fff]{2,4})[，,]\s*[男女][，,。；;]")
#: The mediation's own setting, not the dispute.
_SETTING = re.compile(r"调解员|调解人员|调解时间|人民调解委员会|调委会|调解委员会|调解室|综治中心|主持调解|参加调解|到场参加|[^。；]{0,8}参加[。；]?$")
#: Where the account of the mediation begins (once the facts have been read).
_PROCESS = re.compile(r"^\s*(调解过程|调解经过|调解情况|调解结果|调解意见|处理结果|处理意见|协议内容|调解协议|协议[：:]|达成协议|双方达成|双方自愿|"
                      r"调解(员|人员|人)(?![：:])|调委会|医调委|经.{0,12}(调解|协商|劝导|核算|做工作)|双方(同意|确认|商定|约定)[：:]|最终|最后商定)")
_LABEL = re.compile(rf"(?:{_PEOPLE})\s*(?:[(（][^)）]{{0,8}}[)）]|[一二三甲乙丙]|\d)?\s*[：:]\s*([\u4e00-\u9fff]{{2,4}}?)(?=[，,（(；;。、\s]|等|$)")
_NAME_BEFORE_SEX = re.compile(r"([\u4e00-\u9fff]{2,4})[，,]\s*[男女][，,。；;]")
#: The mediation's own setting, not the dispute.
_SETTING = re.compile(r"调解员|调解人员|调解时间|人民调解委员会|调委会|调解委员会|调解室|综治中心|主持调解|参加调解|到场参加|[^。；]{0,8}参加[。；]?$")
#: Where the account of the mediation begins (once the facts have been read).
_PROCESS = re.compile(r"^\s*(调解过程|调解经过|调解情况|调解结果|调解意见|处理结果|处理意见|协议内容|调解协议|经调解|经.{0,12}调解|调解(员|人员|人)(?![：:])|"
                      r"调委会|医调委|双方达成|双方自愿|达成协议|协议|最终|最后商定)")
_LABEL = re.compile(r"^\s*(纠纷事实|纠纷经过|纠纷情况|基本案情|基本情况|事实经过|事由|案由|案情|主要事实|诉求|申请事项|请求事项|争议焦点)[：:]\s*")
_DETAIL = re.compile(r"于?(自|从)?\d{4}年(\d{1,2}月)?(\d{1,2}日)?(起|以来|至今)?|于?\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?|"
                     r"\d{1,2}[时点](许|左右|多)?|[，,]?\s*[男女][，,]\s*\d{1,3}岁|\d{1,3}岁|[\d.,，]+\s*(万|千)?元|1\d{10}|\d{3,4}-\d{7,8}")
_LINE = re.compile(r"\s*\n\s*|(?<=[。；;！？!?])\s+")
_SENTENCE = re.compile(r"(?<=[。；;！？!?])")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def dispute_text(text: str) -> str:
    """The dispute of a record (header, people, setting and mediation removed); other texts lose dates and amounts only."""
    text = text or ""
    # Normalised text has its line breaks as spaces: a space after a sentence's end is a line break.
    lines = [[s for s in _SENTENCE.split(line) if s.strip()] for line in _LINE.split(text)]
    layout = any(_HEADER.match(s) for line in lines for s in line)
    if not layout:
        return re.sub(r"\s{2,}", " ", _DETAIL.sub("", text)).strip() or text.strip()
    names = {m.group(1) for m in _NAME_AFTER_LABEL.finditer(text)} | {m.group(1) for m in _NAME_BEFORE_SEX.finditer(text)}
    kept: list[str] = []
    for line in lines:
        in_header = bool(_HEADER.match(line[0]))
        for sentence in line:
            if _HEADER.match(sentence) or (in_header and (_HEADER_REST.match(sentence) or _PERSON.match(sentence)
                                                          or len(_CJK.findall(sentence)) < _HEADER_REST_CHARS)):
                continue
            if kept and _PROCESS.match(sentence):
                break  # the account of the mediation follows the dispute
            in_header = False
            if _SETTING.search(sentence):
                continue
            sentence = _DETAIL.sub("", _LABEL.sub("", sentence)).strip()
            if _CJK.search(sentence):
                kept.append(sentence)
        else:
            continue
        break
    cleaned = "".join(kept)
    for name in sorted(names, key=len, reverse=True):
        cleaned = cleaned.replace(name, name[0] + "某")
    cleaned = re.sub(r"^[，,、；;\s]+|(?<=[。；;，,])[，,、]+", "", cleaned).strip()
    return cleaned or _DETAIL.sub("", text).strip() or text.strip()
