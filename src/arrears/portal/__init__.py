"""The cardholder's own pages: a personal link, identity first, then their account (docs/self-service.md)."""
