"""click's own words (``Usage:``, ``Options``, ``Error: Missing argument`` …) in 简体中文.

click marks every message it prints with :func:`gettext.gettext`, so the
words people read in ``--help`` and in usage errors can be swapped without
touching how click works: :func:`install` points the ``_`` / ``ngettext`` of
click's modules at :data:`MESSAGES`. It does not depend on the user's locale:
LeiAn speaks Chinese to everyone. Option names (``--top-k``) and placeholders
(``FILE``) stay as they are.

click measures help text by characters; a Chinese character takes two
columns in a terminal, so :func:`install` also makes it measure columns
(:func:`display_width`), and help text wraps where the terminal does.

Examples
--------
>>> import click
>>> from click.testing import CliRunner
>>> @click.command()
... @click.option("--n", type=int, required=True, help="个数。")
... def count(n):
...     pass
>>> install(); localize(count)
>>> print(CliRunner().invoke(count, ["--n", "x"]).output.strip())
用法 count [选项]
可用 'count --help' 查看帮助。
<BLANKLINE>
错误：'--n' 的值无效：'x' 不是有效的整数。
"""
from __future__ import annotations

import importlib
import re
import string
import unicodedata

import click
import click._textwrap as click_textwrap
import click.formatting

__all__ = ["MESSAGES", "PLURAL_MESSAGES", "TYPE_NAMES", "display_width", "install", "localize", "translate"]

#: click's message -> what LeiAn prints instead (placeholders kept).
MESSAGES = {
    "Usage:": "用法",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "参数",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
    "%(prog)s, version %(version)s": "%(prog)s 版本 %(version)s",
    "Error: {message}": "错误：{message}",
    "Try '{command} {option}' for help.": "可用 '{command} {option}' 查看帮助。",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing command.": "缺少命令。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不带值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "unknown error": "未知错误",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的{number_type}。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    "{value!r} is not a valid boolean. Recognized values: {states}": "{value!r} 不是有效的是/否值，可用：{states}",
    "{value!r} is not a valid UUID.": "{value!r} 不是有效的 UUID。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件，需要文件夹。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹，需要文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不可执行。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "default: {default}": "默认：{default}",
    "required": "必填",
    "env var: {var}": "环境变量：{var}",
    "(dynamic)": "（动态）",
    "deprecated": "已弃用",
    "Aborted!": "已取消。",
    "Do you want to continue?": "是否继续？",
    "Confirm the action without prompting.": "不询问，直接确认。",
    "Repeat for confirmation": "请再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "Press any key to continue...": "按任意键继续……",
}
#: click's type names, as they fill ``{number_type}`` above.
TYPE_NAMES = {"integer": "整数", "integer range": "整数", "float": "数字", "float range": "数字", "boolean": "是/否值",
              "file": "文件", "directory": "文件夹", "path": "路径"}
#: click's (singular, plural) message -> the one Chinese form.
PLURAL_MESSAGES = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): "多余的参数：{args}",
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): "（您是否想用：{possibility}{possibilities}？）",
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): "选项 {name!r} 需要 {nargs} 个值。",
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): "{value!r} 不是可选值之一：{choice}{choices}",
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): "需要 {nargs} 个值，只给了 {len} 个。",
}
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")
_WIDE = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\u3000-\u303f"
_OPENING, _CLOSING = "（「『《〈【〔“‘", "，。；：、）」』》〉】〕！？”’…"
#: A wide character with the brackets and punctuation that must not be parted from it, or a run of anything else.
_CJK_PIECE = re.compile(f"[{_OPENING}]*[{_WIDE}][{_CLOSING}]*|[^{_WIDE}]+|[{_CLOSING}]+")
_CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils")


def translate(message: str) -> str:
    """The Chinese form of one of click's messages (unknown ones pass through)."""
    return _Template(MESSAGES[message], message) if message in MESSAGES else message


def _translate_plural(singular: str, plural: str, n: int) -> str:
    chinese = PLURAL_MESSAGES.get((singular, plural))
    if chinese is None:
        return singular if n == 1 else plural
    return _Template(chinese, singular if n == 1 else plural)


class _Template(str):
    """A Chinese message template that click fills with ``format()`` as it would the English one.

    One Chinese form may serve both the singular and the plural English form: a
    placeholder the English form would not fill is left empty. Type names
    (``integer range``) are put into Chinese too.
    """

    def __new__(cls, text: str, english: str):
        template = super().__new__(cls, text)
        template.english = english
        return template

    def format(self, *args: object, **kwargs: object) -> str:
        used = {field for _, field, _, _ in string.Formatter().parse(self.english) if field}
        wanted = {field for _, field, _, _ in string.Formatter().parse(self) if field}
        # click fills in type names as written ("integer range") or title-cased ("File" 'x.txt' does not exist).
        values = {name: TYPE_NAMES.get(str(kwargs.get(name, "")).lower(), kwargs.get(name, "")) if name in used else ""
                  for name in wanted}
        return str.format(self, *args, **values)

    def __mod__(self, values: object) -> str:
        return str(self) % values


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: two for a wide (Chinese) character, none for colour codes.

    >>> display_width("leian 类案"), display_width("\x1b[1m类\x1b[0m")
    (10, 2)
    """
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in _ANSI.sub("", text))


def _truncate_columns(text: str, columns: int) -> str:
    """The longest prefix of ``text`` that fits in ``columns`` terminal columns (at least one character)."""
    used = 0
    for i, ch in enumerate(text):
        used += display_width(ch)
        if used > columns:
            return text[: max(i, 1)]
    return text


class _WideTextWrapper(click_textwrap.TextWrapper):
    """click's wrapper, breaking lines between Chinese characters too (Chinese has no spaces to break at).

    Closing punctuation stays with the character before it and opening brackets
    with the one after, so no line starts with ，or ends with （.
    """

    def _split(self, text: str) -> list[str]:
        return [piece for chunk in super()._split(text) for piece in _CJK_PIECE.findall(chunk)]


def _write_heading(self: click.formatting.HelpFormatter, heading: str) -> None:
    """A help section's heading (选项, 命令) with a Chinese colon (click writes ``Options:``)."""
    self.write(f"{'':>{self.current_indent}}{heading}：\n")


_option_help_record = click.Option.get_help_record
#: The bracket click appends to an option's help (``[默认：10; 1<=x<=1000]``); it joins its items with an ASCII ``; ``.
_EXTRAS = re.compile(r"\[([^\[\]]*)\]$")


def _help_record(self: click.Option, ctx: click.Context) -> tuple[str, str] | None:
    """click's help line of an option, its extras joined with a Chinese semicolon (``[默认：10；1<=x<=1000]``)."""
    record = _option_help_record(self, ctx)
    if record is None:
        return None
    names, text = record
    return names, _EXTRAS.sub(lambda extras: f"[{extras.group(1).replace('; ', '；')}]", text)


def install() -> None:
    """Make click print its own messages in Chinese and measure text in terminal columns (idempotent)."""
    for name in _CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = translate
        if hasattr(module, "ngettext"):
            module.ngettext = _translate_plural
    click.formatting.term_len = click_textwrap.term_len = display_width
    click.formatting.HelpFormatter.write_heading = _write_heading
    click.Option.get_help_record = _help_record
    click_textwrap._truncate_visible = _truncate_columns
    # click.formatting.wrap_text imports the class from this module each time it wraps.
    click_textwrap.TextWrapper = _WideTextWrapper


def localize(command: click.Command) -> None:
    """Say ``[选项]`` and ``命令 [参数]...`` in the usage lines of ``command`` and every command below it."""
    command.options_metavar = "[选项]"
    if isinstance(command, click.Group):
        command.subcommand_metavar = "命令 [参数]..."
        for child in command.commands.values():
            localize(child)
