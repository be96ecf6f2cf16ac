"""What the dispute is: a record's text without the 笔录 header lines and the details every record has.

Mediation records (调解笔录) open with who, when and where (申请人：…，女，52岁，住…；
调解员：…；时间：…) and close with how it was settled; long records then look alike
to a sentence encoder whatever the dispute. :func:`dispute_text` keeps the
dispute: header lines go, the account of the mediation (调解过程 … 协议) goes,
and dates, ages, amounts and phone numbers are removed from what is left. A
text without that layout (a short query, a complaint) only loses its dates,
ages and amounts.

Examples
--------
>>> dispute_text("申请人：刘某，女，52岁，住某小区502室。\\n纠纷事实：2024年2月起楼上漏水，要求赔偿6800元。\\n调解过程：调解员释明法律。")
'楼上漏水，要求赔偿。'
>>> dispute_text("楼上漏水 天花板发霉")
'楼上漏水 天花板发霉'
"""
from __future__ import annotations

import re

__all__ = ["dispute_text"]

_HEADER = re.compile(r"^\s*(申请人|被申请人|申请方|被申请方|当事人|第三人|委托代理人|代理人|调解员|调解人|记录人|书记员|主持人|时间|地点|"
                     r"调解时间|调解地点|调解日期|受理日期|受理时间|案由|案号|编号|参加人|到场人员)[^：:]{0,12}[：:]")
_PROCESS = re.compile(r"^\s*(调解过程|调解经过|调解情况|调解结果|调解意见|处理结果|处理意见|协议内容|调解协议|经调解|调解员|调委会|医调委|"
                      r"双方达成|双方自愿|达成协议|协议)")
_LABEL = re.compile(r"^\s*(纠纷事实|纠纷经过|基本案情|事实经过|案情|主要事实|诉求|申请事项|请求事项|争议焦点)[：:]\s*")
_DETAIL = re.compile(r"(自|从)?\d{4}年\d{1,2}月(\d{1,2}日)?(起|以来)?|\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?|[，,]?\s*[男女][，,]\s*\d{1,3}岁|"
                     r"\d{1,3}岁|[\d.,，]+\s*(万|千)?元|1\d{10}|\d{3,4}-\d{7,8}")


def dispute_text(text: str) -> str:
    """The text with 笔录 headers, the mediation's account, dates, ages, amounts and phones removed."""
    kept = []
    for line in re.split(r"\n+", text or ""):
        sentences = [s for s in re.split(r"(?<=[。；;])", line) if s.strip()]
        if sentences and _PROCESS.match(sentences[0]) and kept:
            break  # the account of the mediation follows the dispute
        for sentence in sentences:
            if _HEADER.match(sentence):
                continue
            kept.append(_LABEL.sub("", sentence))
    cleaned = _DETAIL.sub("", "".join(kept) if kept else text)
    return re.sub(r"\s{2,}", " ", cleaned).strip() or (text or "").strip()
