"""The WeChat adapter: the only package that imports wechatpy; it subscribes to domain events."""
