"""Non-tax payments (微警支付): a catalogue of items, agencies issuing bills to citizens by ID
number, WeChat Pay v3 orders, verified callbacks, refunds, reconciliation and receipts.

This package never imports :mod:`bot.wechat`: the payment provider is a
:class:`bot.payments.gateway.PaymentGateway` handed in by the app factory.
"""
