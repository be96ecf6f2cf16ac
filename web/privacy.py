"""Personal data masked on the server, by role, before anything reaches a browser.

Policy (also in docs/web.md):

- 调解员 (mediator) works with the parties: sees full party names and phone numbers.
- 分析员, 培训师, 管理员 (analyst, trainer, admin) see party names as 王某某
  (persons only; organisations keep their names), in the party list and
  wherever the name appears in the case text, and phones as 138****1111.
- Resident ID numbers are masked for every role (110105***********X), and
  phone and ID numbers written inside free text are masked for every role.
- Party addresses are shown to mediators only; the original record (``raw``)
  and extra fields never leave the server.

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

from collections.abc import Callable
from typing import Any

from leian.data.normalize import mask_id_number, mask_name, mask_phone
from leian.data.record import Case
from leian.library.masking import Masker, mask_numbers

__all__ = ["FULL_NAME_ROLES", "case_view", "mask_person", "mask_tree", "sees_names", "text_masker"]

#: Roles that see parties' full names, phones and addresses.
FULL_NAME_ROLES = frozenset({"mediator"})
_TEXT_FIELDS = ("title", "text", "handling", "agreement")


def sees_names(role: str) -> bool:
    return role in FULL_NAME_ROLES


def text_masker(case: Case, role: str) -> Callable[[str], str]:
    """How free text of ``case`` is masked for ``role``."""
    return mask_numbers if sees_names(role) else Masker.for_case(case).mask


def mask_person(name: str, role: str) -> str:
    """A party's name as ``role`` may see it (organisations keep their names)."""
    return name if sees_names(role) else mask_name(name)


def case_view(case: Case, role: str) -> dict[str, Any]:
    """The case as ``role`` may see it: plain JSON-able data, masked."""
    mask = text_masker(case, role)
    full = sees_names(role)
    data = case.to_dict()
    data.pop("extra", None)
    for key in _TEXT_FIELDS:
        if data.get(key):
            data[key] = mask(data[key])
    data["parties"] = [
        {
            "name": p.name if full or p.kind != "person" else mask(p.name),
            "role": p.role,
            "kind": p.kind,
            "phone": (p.phone if full else mask_phone(p.phone)) if p.phone else None,
            "id_number": mask_id_number(p.id_number) if p.id_number else None,
            "address": mask(p.address) if full and p.address else None,
        }
        for p in case.parties
    ]
    data["mediators"] = [{"name": m.name, "org": m.org} for m in case.mediators]
    data["location"] = {k: v for k, v in case.location.items() if k != "address" or full}
    return data


def mask_tree(data: Any, mask: Callable[[str], str]) -> Any:
    """Apply ``mask`` to every string inside nested dicts and lists (keys kept).

    >>> mask_tree({"why": ["王建国说"], "score": 0.9}, lambda s: s.replace("王建国", "王某某"))
    {'why': ['王某某说'], 'score': 0.9}
    """
    if isinstance(data, str):
        return mask(data)
    if isinstance(data, dict):
        return {key: mask_tree(value, mask) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [mask_tree(value, mask) for value in data]
    return data
