"""The citizen's history: a sealed lifecycle log written from the domain events
(:mod:`bot.history.log`) and its view, merged with the verification audit
(:mod:`bot.history.view`)."""
