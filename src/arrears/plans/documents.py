"""The written agreement: terms text from Jinja2 templates (zh_CN and en) and its PDF copy.

The templates live next to this module (``templates/terms.<locale>.txt.j2``). The PDF is the terms
text set in a CJK TrueType font (setting ``ARREARS_PDF_FONT``; Debian's fonts-droid-fallback by
default), dated with the moment it was made so that the same agreement renders the same bytes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan

LOCALES = ("zh_CN", "en")
METHOD_LABELS = {
    "zh_CN": {"sms_code": "短信验证码", "recorded_call": "电话录音", "signed_document": "签署书面协议", "app": "手机银行确认"},
    "en": {"sms_code": "one-time code sent by SMS", "recorded_call": "recorded call",
           "signed_document": "signed document", "app": "mobile banking app"},
}


class PdfFontMissing(ArrearsError):
    """The CJK font for PDF copies is not where the setting says."""

    status = 500


@lru_cache(maxsize=1)
def _env() -> Environment:
    env = Environment(loader=PackageLoader("arrears.plans", "templates"), undefined=StrictUndefined,
                      autoescape=False, keep_trailing_newline=True)
    env.filters["yuan"] = format_yuan
    return env


def render_terms(context: dict[str, Any], locale: str) -> str:
    """The agreement's terms in ``locale`` (``zh_CN`` or ``en``)."""
    if locale not in LOCALES:
        raise ArrearsError(f"no terms template for locale {locale!r} (locales: {', '.join(LOCALES)})")
    labels = {f"confirmation_method_{'zh' if loc == 'zh_CN' else 'en'}":
              METHOD_LABELS[loc].get(context.get("confirmation_method") or "", "") for loc in LOCALES}
    return _env().get_template(f"terms.{locale}.txt.j2").render(**context, **labels)


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _font(path: Path) -> Path:
    if not path.is_file():
        raise PdfFontMissing(
            f"the CJK font for PDF copies is missing: {path} (set ARREARS_PDF_FONT to a TrueType font with "
            f"Chinese glyphs, or install Debian's fonts-droid-fallback)")
    return path


def _runs(line: str) -> list[tuple[bool, str]]:
    """``line`` cut into runs of Latin-1 text (set in the PDF core font) and other text (the CJK font,
    which has no Latin glyphs)."""
    runs: list[tuple[bool, str]] = []
    for ch in line:
        latin = ord(ch) <= 0xFF
        if runs and runs[-1][0] == latin:
            runs[-1] = (latin, runs[-1][1] + ch)
        else:
            runs.append((latin, ch))
    return runs


def render_pdf(text: str, *, font: Path, title: str, made_at: datetime) -> bytes:
    """A PDF of ``text`` (one paragraph per line): Chinese in the CJK ``font``, Latin text and figures
    in Helvetica."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(made_at)
    pdf.set_title(title)
    pdf.set_creator("arrears")
    pdf.add_font("cjk", fname=str(_font(font)))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    height = 6
    for line in text.splitlines():
        for latin, run in _runs(line):
            pdf.set_font("helvetica" if latin else "cjk", size=10)
            pdf.write(height, run)
        pdf.ln(height if line.strip() else height * 0.7)
    return bytes(pdf.output())
