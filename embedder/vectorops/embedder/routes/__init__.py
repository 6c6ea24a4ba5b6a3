"""HTTP routes of the embedder; handlers read what they need from the aiohttp app."""
