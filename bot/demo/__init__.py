"""Development-only demo data and the browser simulator's services. Never active in production."""
