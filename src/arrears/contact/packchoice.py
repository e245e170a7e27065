"""Which policy pack judges a contact: the base pack of the account's product (or of the customer's
country), with the state and city layers of the customer's jurisdiction merged on top.

A customer's **jurisdiction** is where they live (:mod:`arrears.accounts.jurisdiction`): ``CN``,
``US``, ``US-NY``, ``US-MA``, ``US-WA``..., ``US-NY-NYC`` for New York City. The first part is the
country.

The **base pack** is the product's, when the bank maps the product to a pack
(``ARREARS_PRODUCT_PACKS``, :attr:`arrears.config.Settings.product_packs`); otherwise the country's
(:data:`COUNTRY_PACKS`: CN -> ``cn``, US -> ``us-reg-f``). The **layers** are the packs of the
customer's state and city (:data:`JURISDICTION_LAYERS`). "Strictest wins": the effective pack holds
every rule of the base and of each layer, and a contact is allowed only when every one passes, so a
layer can only add restrictions, never lift one.

:func:`pack_for` is the one place every gate caller (the REST check, the case page, an agent's recorded
contact, the outbox worker, the call plan, the cardholder's portal) asks; effective packs are built
once per process.
"""

from __future__ import annotations

from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from arrears.accounts.jurisdiction import DEFAULT_JURISDICTION, country_of, state_of
from arrears.contact.config import PACK_NAMES, load_default_pack, load_pack
from arrears.contact.policy import PolicyPack

#: The country's pack when the product names none.
COUNTRY_PACKS: dict[str, str] = {"CN": "cn", "US": "us-reg-f"}
#: Layer packs shipped with arrears (``contact/packs/<name>.yaml``).
LAYER_NAMES: tuple[str, ...] = ("us-ma", "us-wa", "us-nyc")
#: Layers of each jurisdiction, outermost first (a city's code lists its state's layers too).
JURISDICTION_LAYERS: dict[str, tuple[str, ...]] = {
    "US-MA": ("us-ma",),
    "US-WA": ("us-wa",),
    "US-NY-NYC": ("us-nyc",),
}


def layers_for(jurisdiction: str | None) -> tuple[str, ...]:
    """The layer packs of a jurisdiction: its state's, then its city's."""
    code = jurisdiction or DEFAULT_JURISDICTION
    state = state_of(code)
    if state is None or state == code:
        return JURISDICTION_LAYERS.get(code, ())
    return (*JURISDICTION_LAYERS.get(state, ()), *JURISDICTION_LAYERS.get(code, ()))


def base_pack_name(product: str | None, jurisdiction: str | None,
                   product_packs: dict[str, str] | None = None) -> str:
    """The product's pack if the bank maps it, else the country's (``ValueError`` for a mapped name
    that is not a pack, or a country without one)."""
    mapped = (product_packs or {}).get(product or "")
    if mapped is not None:
        if mapped not in PACK_NAMES:
            raise ValueError(f"ARREARS_PRODUCT_PACKS maps product {product!r} to unknown pack {mapped!r}; "
                             f"packs are {', '.join(PACK_NAMES)}")
        return mapped
    country = country_of(jurisdiction)
    if country not in COUNTRY_PACKS:
        raise ValueError(f"no policy pack for country {country!r}")
    return COUNTRY_PACKS[country]


def layer_path(name: str) -> Path:
    if name not in LAYER_NAMES:
        raise ValueError(f"unknown layer pack {name!r}; layers are {', '.join(LAYER_NAMES)}")
    return Path(str(resources.files("arrears.contact").joinpath("packs", f"{name}.yaml")))


@cache
def load_layer(name: str) -> PolicyPack:
    """A layer pack shipped with arrears, loaded once per process."""
    return load_pack(layer_path(name))


def merge(base: PolicyPack, layers: tuple[PolicyPack, ...]) -> PolicyPack:
    """The effective pack: every rule of ``base`` and of each layer (strictest wins: a contact passes
    only if every rule passes). Layer rule ids must not repeat a base rule's id."""
    if not layers:
        return base
    rules = list(base.rules)
    seen = {r.id for r in rules}
    for layer in layers:
        for rule in layer.rules:
            if rule.id in seen:
                raise ValueError(f"layer {layer.name} repeats rule id {rule.id!r}; a layer's ids must be its own")
            seen.add(rule.id)
            rules.append(rule)
    return PolicyPack(name=base.name, version=base.version, title_en=base.title_en, title_zh=base.title_zh,
                      rules=tuple(rules), file=base.file, layers=tuple((lay.name, lay.version) for lay in layers))


@lru_cache(maxsize=256)
def effective_pack(base: str, layers: tuple[str, ...] = ()) -> PolicyPack:
    """The base pack ``base`` with the layer packs ``layers`` merged on top (cached)."""
    return merge(load_default_pack(base), tuple(load_layer(n) for n in layers))


def pack_for(product: str | None, jurisdiction: str | None,
             product_packs: dict[str, str] | None = None) -> PolicyPack:
    """The effective pack for an account of ``product`` held by a customer in ``jurisdiction``.

    ``product_packs``: the product -> pack mapping (default: the settings' ``product_packs``)."""
    if product_packs is None:
        from arrears.config import get_settings

        product_packs = get_settings().product_packs
    return effective_pack(base_pack_name(product, jurisdiction, product_packs), layers_for(jurisdiction))


__all__ = ["COUNTRY_PACKS", "JURISDICTION_LAYERS", "LAYER_NAMES", "base_pack_name", "effective_pack",
           "layers_for", "load_layer", "merge", "pack_for"]
