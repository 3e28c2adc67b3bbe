"""WeChat Pay's formats that are not JSON: the trade bill file and RFC 3339 Beijing times.

The trade bill: a header line of Chinese column names, one line per payment or refund whose
values each start with a backtick, amounts in yuan with two decimals, then a summary header and
line (which start with the ``总交易单数`` column). Yuan are converted to integer fen exactly
(:class:`decimal.Decimal`), never through floats.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation

from bot.payments.errors import PaymentProviderError
from bot.payments.gateway import TradeBillRow

BEIJING = dt.timezone(dt.timedelta(hours=8))


def rfc3339_beijing(moment: dt.datetime) -> str:
    """``2026-11-27T18:30:00+08:00`` (WeChat Pay's ``time_expire`` form)."""
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def fen(yuan: str) -> int:
    """``"1200.50"`` -> ``120050``; anything but a two-decimal amount is an error."""
    try:
        value = Decimal(yuan.strip() or "0") * 100
    except InvalidOperation:
        raise PaymentProviderError("The trade bill has a malformed amount.") from None
    if value != value.to_integral_value():
        raise PaymentProviderError("The trade bill has an amount finer than a fen.")
    return int(value)


def parse_trade_bill(text: str) -> list[TradeBillRow]:
    """The payment and refund lines of a trade bill of type ALL."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    rows: list[TradeBillRow] = []
    for record in csv.reader(io.StringIO("\n".join(lines[1:]))):
        if record and record[0].startswith("总交易单数"):
            break  # the summary
        cells = dict(zip(header, (cell.lstrip("`") for cell in record), strict=False))
        state = cells.get("交易状态", "")
        rows.append(
            TradeBillRow(
                out_trade_no=cells.get("商户订单号", ""),
                transaction_id=cells.get("微信订单号", ""),
                trade_state=state,
                amount_fen=fen(cells.get("应结订单金额", "0")),
                out_refund_no=cells.get("商户退款单号", "") if state == "REFUND" else "",
                refund_fen=fen(cells.get("退款金额", "0")) if state == "REFUND" else 0,
            )
        )
    return rows
