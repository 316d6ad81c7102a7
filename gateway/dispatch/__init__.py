"""Routing confirmed orders to the nearest available leader (`routing`: a pure index and
ranking) and the background dispatcher that offers, expires and reassigns tasks. Leaders are
told through the `LeaderNotifier` protocol, which the Telegram channel implements."""
