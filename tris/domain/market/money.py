"""Money is taboo at a market: what counts as money in a commitment, an offer or a need.

A market trades cooperation (time, expertise, logistics, goods, space), never money: the
`funding` kind and any currency unit are refused. A unit is a currency when it is an active
ISO 4217 code written in capitals (`EUR`, `CHF`), a well-known currency word in any case
(`euro`, `Euro`, `eur`, `dollars`) or holds a currency sign (`€`, `$`, `£`, `¥`). Lower-case
words that happen to be codes (`cup`, `all`, `top`) stay units of goods.
"""

from __future__ import annotations

from tris.domain.errors import MoneyAtMarketError

# Active ISO 4217 alphabetic codes (2024 list), with the funds and precious-metal codes.
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR
    PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS
    SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW
    UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA
    YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a table, easier read as text
)

# Currency words, compared in lower case (German and English), and currency signs.
CURRENCY_WORDS = frozenset(
    """
    eur euro euros eurocent eurocents cent cents ct usd dollar dollars chf franken franc
    francs gbp pfund sterling yen yuan
    """.split()  # noqa: SIM905
)
CURRENCY_SIGNS = frozenset("€$£¥₣₤₽₹₩₺₴₪₿")

FUNDING = "funding"


def is_currency(unit: str) -> bool:
    """True when `unit` names money (an ISO 4217 code in capitals, a currency word, a sign)."""
    text = unit.strip()
    if any(sign in text for sign in CURRENCY_SIGNS):
        return True
    if text in ISO_4217:
        return True
    return text.lower().rstrip(".") in CURRENCY_WORDS


def refuse_money(what: str, kind: str, unit: str) -> None:
    """MoneyAtMarketError when `kind` is funding or `unit` is a currency."""
    if kind == FUNDING:
        raise MoneyAtMarketError(
            f"{what}: money is taboo at a market; `funding` cannot be traded there "
            "(offer time, expertise, logistics, goods or space)"
        )
    if is_currency(unit):
        raise MoneyAtMarketError(
            f"{what}: money is taboo at a market; the unit {unit!r} is a currency"
        )
