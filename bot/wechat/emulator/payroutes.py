"""The emulator's WeChat Pay v3 endpoints (see :mod:`bot.wechat.emulator.pay`).

Each handler returns ``(status, body, content type)`` or raises :class:`PayError` with WeChat
Pay's status and code (``PARAM_ERROR``, ``INVALID_REQUEST``, ``ORDER_NOT_EXIST``,
``ORDERPAID``, ``NOT_ENOUGH``, ``RESOURCE_NOT_EXISTS``, ``NO_STATEMENT_EXIST``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from werkzeug.wrappers import Request

from bot.wechat.emulator.payloads import (
    BEIJING,
    EmuOrder,
    EmuRefund,
    PayError,
    beijing_time,
    render_trade_bill,
    transaction_resource,
)
from bot.wechat.emulator.paysign import aead_seal

if TYPE_CHECKING:
    from bot.wechat.emulator.pay import PayEmulator

JSON = "application/json"
ORDER_TTL_S = 7200  # WeChat's default when time_expire is absent
_OUT_NO = re.compile(r"^[0-9A-Za-z_*|-]{6,32}$")
_ORDER = re.compile(r"^/v3/pay/transactions/out-trade-no/([^/]+)(/close)?$")
_REFUND = re.compile(r"^/v3/refund/domestic/refunds/([^/]+)$")


def _json(value: Any) -> tuple[int, str, str]:
    return 200, json.dumps(value, ensure_ascii=False), JSON


def _loopback_or_https(url: str) -> bool:
    return url.startswith("https://") or url.startswith(("http://127.0.0.1:", "http://localhost:"))


def _body(raw: str) -> dict[str, Any]:
    try:
        body = json.loads(raw or "null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PayError(400, "PARAM_ERROR", "请求体不是JSON对象")
    return body


def _jsapi(emulator: PayEmulator, raw: str) -> tuple[int, str, str]:
    body = _body(raw)
    if body.get("appid") != emulator.app_id or body.get("mchid") != emulator.mch_id:
        raise PayError(400, "PARAM_ERROR", "appid和mch_id不匹配")
    amount, payer = body.get("amount"), body.get("payer")
    out_trade_no, description = body.get("out_trade_no"), body.get("description")
    if not isinstance(out_trade_no, str) or not _OUT_NO.match(out_trade_no):
        raise PayError(400, "PARAM_ERROR", "out_trade_no 格式错误")
    if not isinstance(description, str) or not 0 < len(description) <= 127:
        raise PayError(400, "PARAM_ERROR", "description 格式错误")
    if not isinstance(amount, dict) or type(amount.get("total")) is not int or amount["total"] <= 0:
        raise PayError(400, "PARAM_ERROR", "amount.total 必须为正整数（分）")
    if amount.get("currency", "CNY") != "CNY":
        raise PayError(400, "PARAM_ERROR", "currency 仅支持 CNY")
    if not isinstance(payer, dict) or not payer.get("openid"):
        raise PayError(400, "PARAM_ERROR", "JSAPI 下单必须提供 payer.openid")
    if not _loopback_or_https(str(body.get("notify_url", ""))):
        raise PayError(400, "PARAM_ERROR", "notify_url 必须为 https 地址")
    expires_at = emulator.now() + ORDER_TTL_S
    if body.get("time_expire"):
        try:
            expires_at = dt.datetime.fromisoformat(str(body["time_expire"])).timestamp()
        except ValueError:
            raise PayError(400, "PARAM_ERROR", "time_expire 格式错误") from None
    with emulator._lock:
        order = emulator.orders.get(out_trade_no)
        if order is not None:
            if order.trade_state == "SUCCESS":
                raise PayError(403, "ORDERPAID", "该订单已支付")
            if order.trade_state == "CLOSED":
                raise PayError(400, "ORDER_CLOSED", "订单已关闭")
            if order.request != body:
                raise PayError(400, "INVALID_REQUEST", "商户订单号重复")
            return _json({"prepay_id": order.prepay_id})
        prepay_id = "wx" + secrets.token_hex(16)
        emulator.orders[out_trade_no] = EmuOrder(body, prepay_id, expires_at)
    return _json({"prepay_id": prepay_id})


def _order(
    emulator: PayEmulator, method: str, out_trade_no: str, close: bool, params: dict[str, str]
) -> tuple[int, str, str]:
    with emulator._lock:
        order = emulator.orders.get(out_trade_no)
        if order is None:
            raise PayError(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.trade_state == "NOTPAY" and order.expires_at <= emulator.now():
            order.trade_state = "CLOSED"
        if close and method == "POST":
            if order.trade_state == "SUCCESS":
                raise PayError(400, "ORDERPAID", "订单已支付，不能关闭")
            order.trade_state = "CLOSED"
            return 204, "", JSON
        if params.get("mchid") != emulator.mch_id:
            raise PayError(400, "PARAM_ERROR", "mchid 错误")
        return _json(transaction_resource(emulator, order))


def _refund_view(emulator: PayEmulator, refund: EmuRefund) -> dict[str, Any]:
    order = emulator.orders[refund.out_trade_no]
    total = int(order.request["amount"]["total"])
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": beijing_time(emulator.now()),
        "status": refund.status,
        "amount": {"total": total, "refund": refund.refund_fen, "currency": "CNY"},
    }
    if refund.status == "SUCCESS":
        view["success_time"] = beijing_time(refund.success_time)
    return view


def _refund(emulator: PayEmulator, raw: str) -> tuple[int, str, str]:
    body = _body(raw)
    out_refund_no, amount = body.get("out_refund_no"), body.get("amount")
    if not isinstance(out_refund_no, str) or not 0 < len(out_refund_no) <= 64:
        raise PayError(400, "PARAM_ERROR", "out_refund_no 格式错误")
    if not isinstance(amount, dict) or type(amount.get("refund")) is not int:
        raise PayError(400, "PARAM_ERROR", "amount.refund 必须为整数（分）")
    with emulator._lock:
        order = emulator.orders.get(str(body.get("out_trade_no", "")))
        if order is None:
            wanted = body.get("transaction_id")
            order = next((o for o in emulator.orders.values() if o.transaction_id == wanted), None)
        if order is None or order.trade_state not in ("SUCCESS", "REFUND"):
            raise PayError(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        existing = emulator.refunds.get(out_refund_no)
        if existing is not None:
            return _json(_refund_view(emulator, existing))
        total = int(order.request["amount"]["total"])
        if amount.get("total") != total:
            raise PayError(400, "PARAM_ERROR", "订单金额与原订单不一致")
        if not 0 < amount["refund"] <= total - order.refunded_fen:
            raise PayError(403, "NOT_ENOUGH", "退款金额超过可退金额")
        order.refunded_fen += amount["refund"]
        order.trade_state = "REFUND"
        refund = EmuRefund(
            out_refund_no,
            "5030" + "".join(secrets.choice("0123456789") for _ in range(25)),
            str(order.request["out_trade_no"]),
            int(amount["refund"]),
            str(body.get("notify_url") or order.request["notify_url"]),
        )
        emulator.refunds[out_refund_no] = refund
        return _json(_refund_view(emulator, refund))


def _trade_bill(
    emulator: PayEmulator, request: Request, params: dict[str, str]
) -> tuple[int, str, str]:
    try:
        day = dt.date.fromisoformat(params.get("bill_date", ""))
    except ValueError:
        raise PayError(400, "PARAM_ERROR", "bill_date 格式错误") from None
    # Bill days are Beijing days (as the bill's lines): between 16:00 and 24:00 UTC, Beijing's
    # today is UTC's tomorrow. A day after Beijing's today has no bill yet.
    if day > dt.datetime.fromtimestamp(emulator.now(), BEIJING).date():
        raise PayError(400, "NO_STATEMENT_EXIST", "账单尚未生成")
    token = secrets.token_urlsafe(16)
    with emulator._lock:
        emulator._bills[token] = render_trade_bill(emulator, day)
    url = f"{request.host_url.rstrip('/')}{request.script_root}/v3/billdownload/file?token={token}"
    return _json({"hash_type": "SHA1", "hash_value": "", "download_url": url})


def _certificates(emulator: PayEmulator) -> tuple[int, str, str]:
    pem = emulator.certificate.public_bytes(serialization.Encoding.PEM).decode()
    entry = {
        "serial_no": emulator.serial,
        "effective_time": beijing_time(emulator.certificate.not_valid_before_utc.timestamp()),
        "expire_time": beijing_time(emulator.certificate.not_valid_after_utc.timestamp()),
        "encrypt_certificate": aead_seal(emulator.apiv3_key, pem, "certificate"),
    }
    return _json({"data": [entry]})


def route(
    emulator: PayEmulator, request: Request, path: str, params: dict[str, str], raw: str
) -> tuple[int, str, str]:
    """Answer one authenticated request."""
    method = request.method
    if method == "POST" and path == "/v3/pay/transactions/jsapi":
        return _jsapi(emulator, raw)
    matched = _ORDER.match(path)
    if matched:
        return _order(emulator, method, matched.group(1), bool(matched.group(2)), params)
    if method == "POST" and path == "/v3/refund/domestic/refunds":
        return _refund(emulator, raw)
    matched = _REFUND.match(path)
    if matched and method == "GET":
        with emulator._lock:
            refund = emulator.refunds.get(matched.group(1))
            if refund is None:
                raise PayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            return _json(_refund_view(emulator, refund))
    if method == "GET" and path == "/v3/bill/tradebill":
        return _trade_bill(emulator, request, params)
    if method == "GET" and path == "/v3/billdownload/file":
        with emulator._lock:
            text = emulator._bills.pop(params.get("token", ""), None)
        if text is None:
            raise PayError(404, "RESOURCE_NOT_EXISTS", "账单下载链接无效或已使用")
        return 200, text, "text/plain; charset=utf-8"
    if method == "GET" and path == "/v3/certificates":
        return _certificates(emulator)
    raise PayError(404, "RESOURCE_NOT_EXISTS", "接口不存在")
