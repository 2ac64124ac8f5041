"""`convnet serve`: an HTTP API (FastAPI on uvicorn) and a web page around a trained classifier.

app.py builds the FastAPI app; batching.py groups concurrent requests into one forward pass;
images.py checks and decodes uploads; static/ is the page (no external resources)."""
