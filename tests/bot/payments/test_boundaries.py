"""The payments domain depends on the gateway protocol only: no module imports ``bot.wechat``
or the WeChat Pay SDK (the adapter lives in ``bot/wechat/pay.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

PAYMENTS = Path(__file__).resolve().parents[3] / "bot" / "payments"


def test_no_payments_module_imports_an_adapter() -> None:
    offenders = []
    for path in PAYMENTS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(("bot.wechat", "wechatpy", "wechatpayv3", "handlers")):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []
    assert len(list(PAYMENTS.glob("*.py"))) >= 6
