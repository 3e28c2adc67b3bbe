"""The WeChat configuration actually in force, including the development emulator defaults.

Invariants:
- In production every value comes from the environment (``bot.config`` refuses to start without
  the app id, secret and token, or with an emulator API base); :attr:`WeChatConfig.emulated` is
  always False there.
- In development and testing with no ``WANGZHENG_WECHAT_APP_ID``, fixed, public development
  credentials are used and the API base points at the local emulator mounted under
  :data:`EMULATOR_MOUNT` of this very server (in testing: nowhere, unless the test sets
  ``wechat_api_base`` to an emulator it started). These values only work against the emulator.
- The outbox dispatches inline (``sync``) in testing and on a background thread otherwise,
  unless ``WANGZHENG_WECHAT_OUTBOX_DISPATCH`` says ``thread``, ``sync`` or ``off``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import ConfigError, Settings

REAL_API_BASE = "https://api.weixin.qq.com"
EMULATOR_MOUNT = "/_emulator/wechat"
DISPATCH_MODES = ("thread", "sync", "off")

# Development-only credentials: public on purpose, accepted by nothing but the emulator.
DEV_APP_ID = "wx0de7e1000000emu1"
DEV_APP_SECRET = "wangzheng-development-emulator-secret"  # noqa: S105
DEV_TOKEN = "wangzhengdev"  # noqa: S105
DEV_ENCODING_AES_KEY = "V2FuZ3poZW5nRGV2ZWxvcG1lbnRFbXVsYXRvcktleTA"  # 43 chars
DEV_TEMPLATES = {
    "credential_issued": "dev-tpl-credential-issued",
    "credential_removed": "dev-tpl-credential-removed",
    "verified_by_merchant": "dev-tpl-verified",
    "credential_taken_over": "dev-tpl-credential-taken-over",
    "credential_superseded": "dev-tpl-credential-superseded",
    "card_reported_lost": "dev-tpl-card-reported-lost",
    "bill_paid": "dev-tpl-bill-paid",
    "bill_refunded": "dev-tpl-bill-refunded",
}
# Message kind -> the setting holding its template id (README, and the start-up log line).
TEMPLATE_SETTINGS = {
    "credential_issued": "wechat_tpl_credential_issued",
    "credential_removed": "wechat_tpl_credential_removed",
    "verified_by_merchant": "wechat_tpl_verified",
    "credential_taken_over": "wechat_tpl_credential_taken_over",
    "credential_superseded": "wechat_tpl_credential_superseded",
    "card_reported_lost": "wechat_tpl_card_reported_lost",
    "bill_paid": "wechat_tpl_bill_paid",
    "bill_refunded": "wechat_tpl_bill_refunded",
}
DEV_CARD_ID = "pdev-emulator-member-card"
DEV_CARD_ID_UPGRADED = "pdev-emulator-member-card-colour"


@dataclass(frozen=True)
class WeChatConfig:
    """Everything the WeChat layer needs, resolved once per app."""

    app_id: str  # the mini-program's
    app_secret: str
    oa_app_id: str  # the official account's (equal to ``app_id`` when one app serves both)
    oa_app_secret: str
    token: str
    encoding_aes_key: str
    api_base: str
    replay_window_s: int
    max_body_bytes: int
    timeout_s: int
    card_enabled: bool
    card_id: str  # the class of light credentials (grey: black and white)
    card_id_upgraded: str  # the class of upgraded credentials (colour); "" = ``card_id``
    pass_page: str
    dispute_page: str
    lost_page: str
    notify_channel: str
    outbox_dispatch: str
    emulated: bool
    templates: dict[str, str] = field(default_factory=dict)

    def card_class(self, level: str) -> str:
        """The card class of a credential of ``level``: colour for upgraded, grey for light."""
        if level == "upgraded" and self.card_id_upgraded:
            return self.card_id_upgraded
        return self.card_id

    @property
    def single_account(self) -> bool:
        """True when one app id is both the official account and the mini-program: then a
        follower's openid is the citizen's openid."""
        return self.oa_app_id == self.app_id


def _emulator_base(bind: str) -> str:
    """The loopback URL of the emulator mounted in this server (``bind`` is host:port)."""
    port = bind.rsplit(":", 1)[-1] if ":" in bind else "8000"
    return f"http://127.0.0.1:{port}{EMULATOR_MOUNT}"


def resolve(settings: Settings) -> WeChatConfig:
    """The effective WeChat configuration for ``settings``."""
    emulated = not settings.is_production and not settings.wechat_app_id
    templates = {kind: getattr(settings, name) for kind, name in TEMPLATE_SETTINGS.items()}
    api_base = settings.wechat_api_base.rstrip("/")
    if emulated:
        templates = {kind: value or DEV_TEMPLATES[kind] for kind, value in templates.items()}
        if api_base == REAL_API_BASE:
            # Testing reaches an emulator only when the test starts one and says where; the
            # discard port refuses connections, so no test talks to a dev server by accident.
            api_base = _emulator_base("127.0.0.1:9" if settings.is_testing else settings.bind)
    dispatch = settings.wechat_outbox_dispatch or ("sync" if settings.is_testing else "thread")
    if dispatch not in DISPATCH_MODES:
        raise ConfigError(f"WANGZHENG_WECHAT_OUTBOX_DISPATCH must be one of {DISPATCH_MODES}")
    app_id = settings.wechat_app_id or (DEV_APP_ID if emulated else "")
    app_secret = settings.wechat_app_secret or (DEV_APP_SECRET if emulated else "")
    return WeChatConfig(
        app_id=app_id,
        app_secret=app_secret,
        oa_app_id=settings.wechat_oa_app_id or app_id,
        oa_app_secret=settings.wechat_oa_app_secret or app_secret,
        token=settings.wechat_token or (DEV_TOKEN if emulated else ""),
        encoding_aes_key=settings.wechat_encoding_aes_key
        or (DEV_ENCODING_AES_KEY if emulated else ""),
        api_base=api_base,
        replay_window_s=settings.wechat_replay_window_s,
        max_body_bytes=settings.wechat_max_body_bytes,
        timeout_s=settings.wechat_http_timeout_s,
        card_enabled=settings.wechat_card_enabled,
        card_id=settings.wechat_card_id or (DEV_CARD_ID if emulated else ""),
        card_id_upgraded=settings.wechat_card_id_upgraded
        or (DEV_CARD_ID_UPGRADED if emulated else ""),
        pass_page=settings.wechat_mp_pass_page,
        dispute_page=settings.wechat_mp_dispute_page,
        lost_page=settings.wechat_mp_lost_page,
        notify_channel=settings.wechat_notify_channel,
        outbox_dispatch=dispatch,
        emulated=emulated,
        templates=templates,
    )
