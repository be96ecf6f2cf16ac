"""Personal data masked on the server, by role, before anything reaches a browser.

Policy (also in docs/web.md):

- 调解员 (mediator) works with the parties: sees full party names, phone numbers and addresses.
- 分析员, 培训师, 管理员 (analyst, trainer, admin) see persons' names as 王某某 — persons,
  the persons heading a group (``刘某某等42人``) and organisation-like names that are a
  person's (``王小店``) — in the party list and wherever the name appears in any text; two
  people of one surname on one page are told apart (梁某甲, 梁某乙). Phones show as
  138****1111; addresses lose their house numbers (丽景华庭**-**) wherever they appear.
- Resident ID numbers are masked for every role (110105***********X), and phone, ID and
  account numbers written inside free text are masked for every role, however written.
- The original record (``raw``) and extra fields never leave the server; bidirectional control
  characters are stripped from everything shown.

One :class:`~leian.library.masking.Masker` serves a whole request (:func:`page_masker`), so
that a person keeps one label across the page and two people never share one; every text of
every case the page shows goes through it.

Examples
--------
>>> from leian.data.record import validate
>>> case = validate({"id": "A1", "text": "王建国（电话13800001111）称楼上漏水", "parties": [
...     {"name": "王建国", "phone": "13800001111", "id_number": "11010519491231002X"}]})
>>> view = case_view(case, "analyst")
>>> view["text"], view["parties"][0]["name"], view["parties"][0]["phone"], view["parties"][0]["id_number"]
('王某某（电话138****1111）称楼上漏水', '王某某', '138****1111', '110105***********X')
>>> view = case_view(case, "mediator")
>>> view["parties"][0]["name"], view["parties"][0]["phone"], view["text"]
('王建国', '13800001111', '王建国（电话138****1111）称楼上漏水')
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import g, has_request_context
from leian.data.normalize import mask_address, mask_id_number, mask_numbers, mask_phone, strip_bidi
from leian.data.record import Case
from leian.library.masking import Masker

__all__ = ["FULL_NAME_ROLES", "case_view", "mask_address_for", "mask_reason_for", "mask_tree", "page_masker", "sees_names",
           "shown", "text_masker"]

#: Roles that see parties' full names, phones and addresses.
FULL_NAME_ROLES = frozenset({"mediator"})
_TEXT_FIELDS = ("title", "text", "handling", "agreement")


def sees_names(role: str) -> bool:
    return role in FULL_NAME_ROLES


def shown(text: str) -> str:
    """What every role may see of a text: numbers masked, no bidi controls."""
    return strip_bidi(mask_numbers(text))


def page_masker(cases: Iterable[Case] = ()) -> Masker:
    """The masker of the current request (a fresh one outside a request), knowing ``cases`` too."""
    if has_request_context():
        masker = g.get("leian_masker")
        if masker is None:
            masker = g.leian_masker = Masker()
    else:
        masker = Masker()
    masker.add(cases)
    return masker


def text_masker(case: Case | Iterable[Case], role: str) -> Callable[[str], str]:
    """How free text of ``case`` (or of several cases shown together) is masked for ``role``."""
    if sees_names(role):
        return shown
    masker = page_masker([case] if isinstance(case, Case) else case)
    return lambda text: strip_bidi(masker.mask(text))


def mask_address_for(address: str, role: str) -> str:
    """An address as ``role`` may see it: whole for mediators, without house numbers for the others."""
    return shown(address) if sees_names(role) else strip_bidi(mask_address(mask_numbers(address)))


#: Where a repeat chain's or a party merge's reason names an address: 同一当事人同一地址（西街75）, 地址相同（东街12号）.
_ADDRESS_IN_REASON = re.compile(r"(同一地址|地址相同)（([^（）]*)）")


def mask_reason_for(reason: str, role: str) -> str:
    """A chain's or a merge's reason as ``role`` may see it: the address it names without house numbers,
    its counts and days kept (``302天内被5方申请人提起5件纠纷`` is no address).

    >>> mask_reason_for("同一被申请人（梁某某）302天内被5方申请人提起5件纠纷；同一当事人同一地址（西街75）", "analyst")
    '同一被申请人（梁某某）302天内被5方申请人提起5件纠纷；同一当事人同一地址（西街**）'
    """
    if sees_names(role):
        return shown(reason)
    return strip_bidi(_ADDRESS_IN_REASON.sub(lambda m: f"{m.group(1)}（{mask_address(m.group(2))}）", mask_numbers(reason)))


def case_view(case: Case, role: str) -> dict[str, Any]:
    """The case as ``role`` may see it: plain JSON-able data, masked."""
    mask = text_masker(case, role)
    full = sees_names(role)
    masker = None if full else page_masker([case])
    data = case.to_dict()
    data.pop("extra", None)
    for key in _TEXT_FIELDS:
        if data.get(key):
            data[key] = mask(data[key])
    data["parties"] = [
        {
            "name": strip_bidi(p.name) if masker is None else strip_bidi(masker.party_name(p.name, p.kind)),
            "role": p.role,
            "kind": p.kind,
            "phone": (strip_bidi(p.phone) if full else mask_phone(p.phone)) if p.phone else None,
            "id_number": mask_id_number(p.id_number) if p.id_number else None,
            "address": shown(p.address) if full and p.address else None,
        }
        for p in case.parties
    ]
    data["mediators"] = [{"name": strip_bidi(m.name), "org": strip_bidi(m.org) if m.org else m.org} for m in case.mediators]
    data["location"] = {k: strip_bidi(v) for k, v in case.location.items() if k != "address" or full}
    return mask_tree(data, strip_bidi)


def mask_tree(data: Any, mask: Callable[[str], str], keep: tuple[str, ...] = ()) -> Any:
    """Apply ``mask`` to every string inside nested dicts and lists (keys kept, and the values of ``keep`` keys).

    >>> mask_tree({"why": ["王建国说"], "id": "王建国", "score": 0.9}, lambda s: s.replace("王建国", "王某某"), keep=("id",))
    {'why': ['王某某说'], 'id': '王建国', 'score': 0.9}
    """
    if isinstance(data, str):
        return mask(data)
    if isinstance(data, dict):
        return {key: value if key in keep else mask_tree(value, mask, keep) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_tree(value, mask, keep) for value in data]
    return data
