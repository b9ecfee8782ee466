"""Where clustering runs come from: a snapshot file or PostHog's query API."""
