"""The emulator's records and the documents it renders: orders and refunds as WeChat Pay keeps
them, the decrypted transaction of a notification, and the trade bill file.

The trade bill is WeChat's format: a header of Chinese column names, one line per transaction
or refund with every value prefixed by a backtick, amounts in yuan with two decimals, then the
summary header and line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.wechat.emulator.pay import PayEmulator

BEIJING = dt.timezone(dt.timedelta(hours=8))
TRADE_BILL_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
SUMMARY_COLUMNS = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


class PayError(Exception):
    """An error answer: HTTP status, WeChat Pay code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class EmuOrder:
    """An order as WeChat Pay keeps it."""

    request: dict[str, Any]
    prepay_id: str
    expires_at: float
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: float = 0.0
    refunded_fen: int = 0


@dataclass
class EmuRefund:
    """A refund as WeChat Pay keeps it."""

    out_refund_no: str
    refund_id: str
    out_trade_no: str
    refund_fen: int
    notify_url: str
    status: str = "PROCESSING"
    success_time: float = 0.0


def beijing_time(epoch_s: float) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes times."""
    return dt.datetime.fromtimestamp(epoch_s, BEIJING).isoformat(timespec="seconds")


def yuan(fen: int) -> str:
    """Integer fen as WeChat's yuan text (``120000`` -> ``1200.00``)."""
    return f"{fen // 100}.{fen % 100:02d}"


def transaction_resource(emulator: PayEmulator, order: EmuOrder) -> dict[str, Any]:
    """The decrypted ``resource`` of a TRANSACTION.SUCCESS notification (and the query)."""
    total = int(order.request["amount"]["total"])
    resource: dict[str, Any] = {
        "mchid": order.request["mchid"],
        "appid": order.request["appid"],
        "out_trade_no": order.request["out_trade_no"],
        "trade_type": "JSAPI",
        "trade_state": order.trade_state,
        "trade_state_desc": "支付成功" if order.trade_state == "SUCCESS" else "未支付",
        "payer": {"openid": order.request.get("payer", {}).get("openid", "")},
        "amount": {"total": total, "currency": "CNY"},
    }
    if order.trade_state in ("SUCCESS", "REFUND"):
        resource.update(
            transaction_id=order.transaction_id,
            bank_type="OTHERS",
            attach=order.request.get("attach", ""),
            success_time=beijing_time(order.success_time),
        )
        resource["amount"].update(payer_total=total, payer_currency="CNY")
    return resource


def render_trade_bill(emulator: PayEmulator, day: dt.date) -> str:
    """The ALL trade bill of ``day`` (Beijing time) for the emulator's merchant."""
    lines, orders_fen, refunds_fen, count = [TRADE_BILL_COLUMNS], 0, 0, 0

    def on_day(epoch_s: float) -> bool:
        return bool(epoch_s) and dt.datetime.fromtimestamp(epoch_s, BEIJING).date() == day

    def when(epoch_s: float) -> str:
        return dt.datetime.fromtimestamp(epoch_s, BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    for out_trade_no, order in sorted(emulator.orders.items()):
        if not on_day(order.success_time):
            continue
        total = int(order.request["amount"]["total"])
        cells = [when(order.success_time), order.request["appid"], emulator.mch_id, "0", ""]
        cells += [order.transaction_id, out_trade_no, order.request["payer"]["openid"], "JSAPI"]
        cells += ["SUCCESS", "OTHERS", "CNY", yuan(total), "0.00", "0", "0", "0.00", "0.00"]
        cells += ["", "", order.request["description"], "", "0.00", "0.60%", yuan(total)]
        cells += ["0.00", ""]
        lines.append(",".join("`" + cell for cell in cells))
        orders_fen, count = orders_fen + total, count + 1
    for refund in emulator.refunds.values():
        if refund.status != "SUCCESS" or not on_day(refund.success_time):
            continue
        order = emulator.orders[refund.out_trade_no]
        total = int(order.request["amount"]["total"])
        cells = [when(refund.success_time), order.request["appid"], emulator.mch_id, "0", ""]
        cells += [order.transaction_id, refund.out_trade_no, order.request["payer"]["openid"]]
        cells += ["JSAPI", "REFUND", "OTHERS", "CNY", "0.00", "0.00", refund.refund_id]
        cells += [refund.out_refund_no, yuan(refund.refund_fen), "0.00", "ORIGINAL", "SUCCESS"]
        cells += [order.request["description"], "", "0.00", "0.60%", yuan(total)]
        cells += [yuan(refund.refund_fen), ""]
        lines.append(",".join("`" + cell for cell in cells))
        refunds_fen, count = refunds_fen + refund.refund_fen, count + 1
    lines.append(SUMMARY_COLUMNS)
    totals = [str(count), yuan(orders_fen), yuan(refunds_fen), "0.00", "0.00", yuan(orders_fen)]
    lines.append(",".join("`" + cell for cell in [*totals, yuan(refunds_fen)]))
    return "\r\n".join(lines) + "\r\n"
