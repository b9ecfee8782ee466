"""The topic catalogue: what a simulated team's LLM traffic is about, and how clusters word it."""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------
# Topics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """What one kind of traffic looks like, and how the clustering LLM names it.

    `cost` (USD), `latency` (s) and `tokens` are per-trace means (summed over the
    trace's generations); `error_rate` is the share of traces with an error event;
    `weight` the topic's relative share of traffic. Titles and descriptions are the
    pools each run draws its label from: rewordings of one another.
    """

    key: str
    titles: tuple[str, ...]
    descriptions: tuple[str, ...]
    cost: float
    latency: float
    tokens: int
    error_rate: float
    weight: float = 1.0
    generations: float = 2.0  # mean generations per trace
    embedding_rate: float = 0.25  # share of traces that also embed something
    models: tuple[str, ...] = ("gpt-4o-mini",)


NOISE_TITLE = "Outliers"
NOISE_DESCRIPTION = "Items that did not fit into any cluster"

DEFAULT_TOPICS: tuple[Topic, ...] = (
    Topic(
        key="auth",
        titles=(
            "User login and authentication failures",
            "Authentication and sign-in troubleshooting",
            "Login authentication failures and password resets",
            "Sign-in and login authentication problems",
        ),
        descriptions=(
            "Users unable to log in: expired passwords, rejected MFA challenges and "
            "locked accounts awaiting a reset.",
            "Authentication troubleshooting for failed sign-ins, two-factor challenges "
            "and account lockouts.",
            "Login failures such as password resets, MFA challenges and locked accounts.",
        ),
        cost=0.004,
        latency=2.5,
        tokens=1800,
        error_rate=0.04,
        weight=1.0,
        generations=1.5,
        models=("gpt-4o-mini",),
    ),
    Topic(
        key="sql",
        titles=(
            "SQL query generation",
            "Generating SQL queries",
            "SQL generation requests",
            "Writing SQL queries for analysts",
        ),
        descriptions=(
            "Requests to write SQL for the analytics warehouse: joins, aggregations and "
            "window functions.",
            "Generating SQL queries over warehouse tables, with joins, filters and "
            "grouped aggregates.",
            "SQL generation for ad-hoc analyst requests against the warehouse.",
        ),
        cost=0.03,
        latency=6.0,
        tokens=5200,
        error_rate=0.06,
        weight=1.4,
        generations=2.5,
        models=("gpt-4o", "claude-sonnet-4"),
    ),
    Topic(
        key="refunds",
        titles=(
            "Customer refund inquiries",
            "Refund and return support",
            "Handling customer refunds",
            "Refund status for customers",
        ),
        descriptions=(
            "Customers asking about refunds for damaged or late orders and when the money arrives.",
            "Support conversations about refund eligibility, return labels and order "
            "cancellations.",
            "Handling refund and return tickets from customers, including partial refunds.",
        ),
        cost=0.008,
        latency=3.5,
        tokens=2600,
        error_rate=0.02,
        weight=1.6,
        generations=2.0,
        models=("gpt-4o-mini", "claude-haiku-3.5"),
    ),
    Topic(
        key="code_review",
        titles=(
            "Code review feedback",
            "Reviewing code changes",
            "Automated code reviews",
            "Code review comments on diffs",
        ),
        descriptions=(
            "Reviewing diffs, flagging bugs, style nits and missing tests.",
            "Automated feedback on code changes: potential bugs, readability and test coverage.",
            "Code review comments suggesting fixes and refactors for proposed changes.",
        ),
        cost=0.06,
        latency=14.0,
        tokens=12000,
        error_rate=0.03,
        weight=0.8,
        generations=3.0,
        models=("claude-sonnet-4", "gpt-4.1"),
    ),
    Topic(
        key="summarization",
        titles=(
            "Document summarization",
            "Summarizing lengthy documents",
            "Document summaries",
            "Summaries of reports and PDFs",
        ),
        descriptions=(
            "Condensing lengthy documents, reports and PDFs into short summaries with key points.",
            "Summarizing memos, minutes and contracts into a few bullet points.",
            "Document summaries that highlight the main points of each report.",
        ),
        cost=0.02,
        latency=8.0,
        tokens=9000,
        error_rate=0.01,
        weight=1.0,
        generations=1.5,
        models=("gpt-4o", "gemini-2.0-flash"),
    ),
    Topic(
        key="translation",
        titles=(
            "Text translation between languages",
            "Translating product copy",
            "Multilingual translation",
            "Language translation tasks",
        ),
        descriptions=(
            "Translating product copy, UI strings and help articles between languages.",
            "Multilingual translation of marketing text into Spanish, German and Japanese.",
            "Language translation tasks that must keep tone and markup intact.",
        ),
        cost=0.005,
        latency=3.0,
        tokens=2200,
        error_rate=0.01,
        weight=0.9,
        generations=1.2,
        models=("gpt-4o-mini", "gemini-2.0-flash"),
    ),
    Topic(
        key="rag_search",
        titles=(
            "Knowledge base search",
            "Searching the knowledge base",
            "Knowledge retrieval from internal docs",
            "Knowledge base retrieval and search",
        ),
        descriptions=(
            "Answering employee questions by retrieving snippets from the internal wiki.",
            "Semantic search over the knowledge base with cited sources.",
            "Retrieval-augmented answers backed by internal wiki pages.",
        ),
        cost=0.012,
        latency=4.5,
        tokens=6000,
        error_rate=0.03,
        weight=1.3,
        generations=1.8,
        embedding_rate=0.95,
        models=("gpt-4o-mini", "claude-haiku-3.5"),
    ),
    Topic(
        key="extraction",
        titles=(
            "Structured data extraction",
            "Extracting fields from invoices",
            "Invoice field extraction",
            "Parsing structured fields from receipts",
        ),
        descriptions=(
            "Pulling structured fields such as totals, dates and vendor names out of invoices.",
            "Extracting line items and amounts from receipts into JSON.",
            "Parsing scanned paperwork into structured data records.",
        ),
        cost=0.009,
        latency=5.0,
        tokens=4000,
        error_rate=0.05,
        weight=0.7,
        generations=1.5,
        models=("gpt-4o", "gpt-4o-mini"),
    ),
)

# Topics that appear in none of the default pools: for "a new topic appears" and
# "the topics change entirely" scenarios. Distinct from the defaults and each other.
ALT_TOPICS: tuple[Topic, ...] = (
    Topic(
        key="email_drafting",
        titles=(
            "Email drafting assistance",
            "Drafting outbound emails",
            "Composing email drafts",
        ),
        descriptions=(
            "Composing outbound emails and follow-ups for sales reps.",
            "Drafting polite replies and cold outreach emails.",
        ),
        cost=0.006,
        latency=3.0,
        tokens=2400,
        error_rate=0.02,
        weight=1.0,
        generations=1.3,
    ),
    Topic(
        key="image_captioning",
        titles=(
            "Image captioning",
            "Captioning uploaded photos",
            "Photo and image captions",
        ),
        descriptions=(
            "Captioning uploaded photos for accessibility alt tags.",
            "Image captions describing the scene in each photo.",
        ),
        cost=0.015,
        latency=4.0,
        tokens=3000,
        error_rate=0.03,
        weight=1.0,
        generations=1.1,
        models=("gpt-4o",),
    ),
    Topic(
        key="sentiment",
        titles=(
            "Sentiment classification",
            "Classifying survey sentiment",
            "Sentiment scoring of survey responses",
        ),
        descriptions=(
            "Scoring survey responses and store ratings as positive, neutral or negative.",
            "Sentiment classification of survey responses and ratings.",
        ),
        cost=0.002,
        latency=1.2,
        tokens=900,
        error_rate=0.01,
        weight=1.0,
        generations=1.0,
    ),
    Topic(
        key="scheduling",
        titles=(
            "Meeting scheduling",
            "Scheduling calendar meetings",
            "Calendar invite scheduling",
        ),
        descriptions=(
            "Finding free calendar slots and sending meeting invites across time zones.",
            "Rescheduling meetings and resolving calendar conflicts.",
        ),
        cost=0.004,
        latency=2.2,
        tokens=1500,
        error_rate=0.04,
        weight=1.0,
        generations=2.0,
    ),
)

_PROVIDERS = {"gpt": "openai", "claude": "anthropic", "gemini": "gemini"}
# The last name is the root span's (one per trace, wrapping all of it).
_SPAN_NAMES = (
    "tool_call",
    "retrieve_context",
    "validate_output",
    "agent_step",
    "rerank",
    "handle_request",
)
_ROOT_SPAN = len(_SPAN_NAMES) - 1
_EMBED_MODEL = "text-embedding-3-small"
