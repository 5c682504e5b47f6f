"""The WhatsApp Cloud API (Meta's Graph API) as the tool calls it: an edge like `onprem.api`, errors
translated once into the tool's error tree."""
