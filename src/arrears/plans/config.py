"""Loading the plan products (``products.yaml``), with errors that name the file, line and field.

File format (``products`` is required, the other sections are optional and take the defaults of
:class:`MonitoringRules`, :class:`ReageRules` and :class:`SettlementRules`)::

    monitoring: {grace_days: 3, reminder_days_before: 3, max_misses: 2}
    reage: {min_kept: 3, once_in_months: 12}
    settlement:
      min_dpd: 90
      authority: {agent: 10, team_lead: 20, supervisor: 30}
      senior_approver: compliance
    products:
      - code: inst_12
        kind: instalment
        labels: {zh_CN: 分12期, en: 12 monthly instalments}
        months: 12
        monthly_fee_rate: 0.60

Rates and percentages are read from the file's text straight into ``Decimal`` (never through a
float): ``0.60`` is ``Decimal('0.60')``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from arrears.auth.model import ROLES
from arrears.kit.errors import ConfigError
from arrears.kit.yamlfile import (
    INT_TAG,
    STR_TAG,
    compose_file,
    line_of,
    mapping,
    reject_unknown,
    required_list,
    text,
    whole_number,
)
from arrears.plans.model import (
    DEFERRAL_BASES,
    KINDS,
    MAX_MONTHS,
    MIN_INSTALMENT_MONTHS,
    MonitoringRules,
    PlanProducts,
    Product,
    ReageRules,
    SettlementRules,
)

_FLOAT_TAG = "tag:yaml.org,2002:float"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_NUMBER = re.compile(r"^\d[\d_]*(\.\d+)?$")
_LOCALES = ("zh_CN", "en")
_COMMON = ("code", "kind", "labels", "min_balance_fen", "min_dpd", "max_dpd", "approval_role")
_CHARGES = ("monthly_fee_rate", "annual_interest_rate")
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "full": ("pay_within_days",),
    "minimum": ("pay_within_days",),
    "deferral": ("days", "months", "daily_interest_rate", "base"),
    "instalment": ("months", *_CHARGES, "waive_first_periods", "waive_fee_percent"),
    "personalised": ("min_months", "max_months", "min_willingness", *_CHARGES),
    "settlement": ("discount_percent", "instalments", "pay_within_days"),
}
_SECTIONS = {
    "monitoring": ("grace_days", "reminder_days_before", "max_misses"),
    "reage": ("min_kept", "once_in_months"),
}
#: Upper bounds (inclusive) for rates, a guard against a misplaced decimal point.
_RATE_MAX = {
    "monthly_fee_rate": Decimal(10),
    "annual_interest_rate": Decimal(100),
    "daily_interest_rate": Decimal(1),
    "waive_fee_percent": Decimal(100),
}


def default_products_path() -> Path:
    return Path(str(resources.files("arrears.plans").joinpath("products.yaml")))


def _decimal(node: yaml.Node, *, file: str, field: str) -> Decimal:
    """A non-negative decimal number, read from the node's text (never through a float)."""
    ok = isinstance(node, yaml.ScalarNode) and node.tag in (INT_TAG, _FLOAT_TAG, STR_TAG)
    written = node.value.strip() if ok else ""
    if written.startswith("-"):
        raise ConfigError(f"must be >= 0, got {written}", file=file, line=line_of(node), field=field)
    if not _NUMBER.match(written):
        shown = node.value if isinstance(node, yaml.ScalarNode) else type(node).__name__
        raise ConfigError(f"must be a decimal number such as 0.60, got {shown!r}", file=file, line=line_of(node),
                          field=field)
    try:
        return Decimal(written.replace("_", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guarantees a number
        raise ConfigError(f"not a number: {written!r}", file=file, line=line_of(node), field=field) from exc


def _role(node: yaml.Node, *, file: str, field: str) -> str:
    role = text(node, file=file, field=field)
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r} (roles: {', '.join(ROLES)})", file=file, line=line_of(node),
                          field=field)
    return role


def _between(value: Any, node: yaml.Node, low: Any, high: Any, *, file: str, field: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"must be between {low} and {high}, got {value}", file=file, line=line_of(node),
                          field=field)


def _settlement(node: yaml.Node, *, file: str) -> SettlementRules:
    entry = mapping(node, file=file, field="settlement")
    reject_unknown(entry, ("min_dpd", "authority", "senior_approver"), file=file, prefix="settlement")
    kwargs: dict[str, Any] = {}
    if "min_dpd" in entry:
        kwargs["min_dpd"] = whole_number(entry["min_dpd"][1], file=file, field="settlement.min_dpd")
    if "authority" in entry:
        authority: dict[str, Decimal] = {}
        for role, (key_node, value_node) in mapping(entry["authority"][1], file=file,
                                                    field="settlement.authority").items():
            where = f"settlement.authority.{role}"
            if role not in ROLES:
                raise ConfigError(f"unknown role {role!r} (roles: {', '.join(ROLES)})", file=file,
                                  line=line_of(key_node), field=where)
            percent = _decimal(value_node, file=file, field=where)
            _between(percent, value_node, 0, 100, file=file, field=where)
            authority[role] = percent
        kwargs["authority"] = authority
    if "senior_approver" in entry:
        kwargs["senior_approver"] = _role(entry["senior_approver"][1], file=file, field="settlement.senior_approver")
    return SettlementRules(**kwargs)


def _product(item: yaml.Node, index: int, *, file: str) -> Product:
    prefix = f"products[{index}]"
    entry = mapping(item, file=file, field=prefix)
    for key in ("code", "kind", "labels"):
        if key not in entry:
            raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.{key}")
    code_node = entry["code"][1]
    code = text(code_node, file=file, field=f"{prefix}.code")
    if not _CODE.match(code):
        raise ConfigError("must be lower-case letters, digits and _ (at most 32)", file=file,
                          line=line_of(code_node), field=f"{prefix}.code")
    kind_node = entry["kind"][1]
    kind = text(kind_node, file=file, field=f"{prefix}.kind")
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})", file=file, line=line_of(kind_node),
                          field=f"{prefix}.kind")
    reject_unknown(entry, (*_COMMON, *_KIND_KEYS[kind]), file=file, prefix=prefix)

    labels_node = entry["labels"][1]
    label_entry = mapping(labels_node, file=file, field=f"{prefix}.labels")
    reject_unknown(label_entry, _LOCALES, file=file, prefix=f"{prefix}.labels")
    labels = {}
    for locale in _LOCALES:
        if locale not in label_entry:
            raise ConfigError("is required", file=file, line=line_of(labels_node), field=f"{prefix}.labels.{locale}")
        labels[locale] = text(label_entry[locale][1], file=file, field=f"{prefix}.labels.{locale}")

    def node(key: str) -> yaml.Node:
        return entry[key][1]

    def whole(key: str, low: int, high: int) -> int:
        value = whole_number(node(key), file=file, field=f"{prefix}.{key}")
        _between(value, node(key), low, high, file=file, field=f"{prefix}.{key}")
        return value

    def rate(key: str) -> Decimal:
        value = _decimal(node(key), file=file, field=f"{prefix}.{key}")
        _between(value, node(key), 0, _RATE_MAX[key], file=file, field=f"{prefix}.{key}")
        return value

    kw: dict[str, Any] = {"code": code, "kind": kind, "labels": labels}
    if "min_balance_fen" in entry:
        kw["min_balance"] = whole_number(node("min_balance_fen"), file=file, field=f"{prefix}.min_balance_fen")
    if "min_dpd" in entry:
        kw["min_dpd"] = whole_number(node("min_dpd"), file=file, field=f"{prefix}.min_dpd")
    if "max_dpd" in entry:
        kw["max_dpd"] = whole_number(node("max_dpd"), file=file, field=f"{prefix}.max_dpd")
        if kw["max_dpd"] < kw.get("min_dpd", 0):
            raise ConfigError("must not be below min_dpd", file=file, line=line_of(node("max_dpd")),
                              field=f"{prefix}.max_dpd")
    if "approval_role" in entry:
        kw["approval_role"] = _role(node("approval_role"), file=file, field=f"{prefix}.approval_role")
    if "pay_within_days" in entry:
        kw["pay_within_days"] = whole("pay_within_days", 0, 365)
    if "monthly_fee_rate" in entry and "annual_interest_rate" in entry:
        raise ConfigError("a product has a monthly fee or an interest rate, not both", file=file,
                          line=line_of(entry["annual_interest_rate"][0]), field=f"{prefix}.annual_interest_rate")
    for key in ("monthly_fee_rate", "annual_interest_rate", "daily_interest_rate", "waive_fee_percent"):
        if key in entry:
            kw[key] = rate(key)

    if kind == "deferral":
        if ("days" in entry) == ("months" in entry):
            raise ConfigError("give either days or months", file=file, line=line_of(item), field=f"{prefix}.days")
        if "days" in entry:
            kw["days"] = whole("days", 1, 365)
        else:
            kw["months"] = whole("months", 1, 12)
        if "base" in entry:
            base = text(node("base"), file=file, field=f"{prefix}.base")
            if base not in DEFERRAL_BASES:
                raise ConfigError(f"must be one of {', '.join(DEFERRAL_BASES)}", file=file, line=line_of(node("base")),
                                  field=f"{prefix}.base")
            kw["base"] = base
    elif kind == "instalment":
        if "months" not in entry:
            raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.months")
        kw["months"] = whole("months", MIN_INSTALMENT_MONTHS, MAX_MONTHS)
        if ("waive_first_periods" in entry or "waive_fee_percent" in entry) and "monthly_fee_rate" not in entry:
            key = "waive_first_periods" if "waive_first_periods" in entry else "waive_fee_percent"
            raise ConfigError("a fee waiver needs a monthly_fee_rate", file=file, line=line_of(entry[key][0]),
                              field=f"{prefix}.{key}")
        if "waive_first_periods" in entry:
            kw["waive_first_periods"] = whole("waive_first_periods", 0, kw["months"])
    elif kind == "personalised":
        if "min_months" in entry:
            kw["min_months"] = whole("min_months", 1, MAX_MONTHS)
        if "max_months" in entry:
            kw["max_months"] = whole("max_months", kw.get("min_months", 1), MAX_MONTHS)
        if "min_willingness" in entry:
            kw["min_willingness"] = whole("min_willingness", 1, 5)
    elif kind == "settlement":
        if "discount_percent" not in entry:
            raise ConfigError("is required", file=file, line=line_of(item), field=f"{prefix}.discount_percent")
        percent = _decimal(node("discount_percent"), file=file, field=f"{prefix}.discount_percent")
        if not 0 < percent < 100:
            raise ConfigError(f"must be above 0 and below 100, got {percent}", file=file,
                              line=line_of(node("discount_percent")), field=f"{prefix}.discount_percent")
        kw["discount_percent"] = percent
        if "instalments" in entry:
            kw["instalments"] = whole("instalments", 1, 12)
            if kw["instalments"] > 1 and "pay_within_days" in entry:
                raise ConfigError("pay_within_days is for one payment; instalments are monthly", file=file,
                                  line=line_of(entry["pay_within_days"][0]), field=f"{prefix}.pay_within_days")
    return Product(**kw)


def load_plan_products(path: str | PathLike[str]) -> PlanProducts:
    """Read a plan products file. Raises :class:`ConfigError` naming file, line and field."""
    file, root = compose_file(path)
    if root is None:
        raise ConfigError("the products file is empty; 'products' is required", file=file, line=1)
    top = mapping(root, file=file, field=None)
    reject_unknown(top, (*_SECTIONS, "settlement", "products"), file=file, prefix=None)

    sections: dict[str, dict[str, int]] = {}
    for name, keys in _SECTIONS.items():
        sections[name] = {}
        if name in top:
            entry = mapping(top[name][1], file=file, field=name)
            reject_unknown(entry, keys, file=file, prefix=name)
            for key, (_, value_node) in entry.items():
                minimum = 1 if key == "max_misses" else 0
                sections[name][key] = whole_number(value_node, file=file, field=f"{name}.{key}", minimum=minimum)
    monitoring = MonitoringRules(**sections["monitoring"])
    reage = ReageRules(**sections["reage"])
    settlement = _settlement(top["settlement"][1], file=file) if "settlement" in top else SettlementRules()

    items = required_list(top, "products", root=root, file=file, one="product", many="products")
    products: dict[str, Product] = {}
    for i, item in enumerate(items):
        product = _product(item, i, file=file)
        if product.code in products:
            code_node = mapping(item, file=file, field=f"products[{i}]")["code"][1]
            raise ConfigError(f"duplicate product {product.code!r}", file=file, line=line_of(code_node),
                              field=f"products[{i}].code")
        products[product.code] = product
    return PlanProducts(products=tuple(products.values()), settlement=settlement, monitoring=monitoring, reage=reage)


def load_default_plan_products() -> PlanProducts:
    return load_plan_products(default_products_path())
