"""Money: integer fen (分) in storage and across boundaries, Decimal inside calculations.

One rounding rule for the whole product: half-up to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
_FEN = Decimal("0.01")


def to_fen(yuan: Decimal | int | str) -> int:
    """Yuan (Decimal, int or decimal text) to integer fen, rounding half-up. Floats are refused."""
    if isinstance(yuan, float):  # pragma: no cover - guarded by type, kept as a hard stop
        raise TypeError("money must never be a float")
    try:
        d = Decimal(yuan)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {yuan!r}") from exc
    return int((d * FEN_PER_YUAN).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_yuan(fen: int) -> Decimal:
    """Integer fen to a Decimal yuan amount with two places."""
    return (Decimal(fen) / FEN_PER_YUAN).quantize(_FEN)


def round_fen(value: Decimal) -> int:
    """A Decimal amount in fen (possibly fractional) to whole fen, half-up."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_yuan(fen: int) -> str:
    """Fen to display text with thousands separators, e.g. 123456 -> '1,234.56'."""
    return f"{to_yuan(fen):,.2f}"
