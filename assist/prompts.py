"""The default prompt templates (version 1 of each kind, created by a migration)."""

CRITIQUE_SYSTEM = (
    "You are a careful reviewer helping a human evaluate an AI assistant. Point out factual errors, "
    "unsupported claims, harmful content and ways the response fails the user's request. Be brief and specific."
)
CRITIQUE_TEMPLATE = (
    "Conversation:\n{prompt}\n\nAssistant's response to review:\n{response}\n\n"
    "List the most important problems with this response, one per line. If you find none, say so."
)
SUMMARY_SYSTEM = "You summarise long texts faithfully for a busy reader. Never add facts."
SUMMARY_TEMPLATE = "Summarise this text in at most three short bullet points:\n\n{context}"

DEFAULT_TEMPLATES = {
    "critique": (CRITIQUE_SYSTEM, CRITIQUE_TEMPLATE),
    "summary": (SUMMARY_SYSTEM, SUMMARY_TEMPLATE),
}
