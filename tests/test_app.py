"""The Gradio app with the tiny preset: its named API endpoints through gradio_client, and a real browser."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from conftest import EXAMPLES, ROOT

ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    port = free_port()
    env = {**os.environ, "SOUND2IMG_PRESET": "tiny", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the app exited: {process.stdout.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the app did not start within 120 s")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_caption_endpoint(app_url):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    highlighted, table, details = client.predict(
        handle_file(str(EXAMPLES / "dog_barking.wav")), 1.0, True, True, "paper", api_name="/caption"
    )
    assert details["caption"] and len(details["words"]) == len(table["data"])
    for word in details["words"]:
        assert set(word) >= {"word", "audio_attention", "sentence_attention", "is_noun", "weight"}


def test_generate_endpoint(app_url):
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    image, highlighted, table, gallery, curves, run_file, run, seed = client.predict(
        handle_file(str(EXAMPLES / "rain_in_garden.wav")),
        "tiny", 2.0, "a garden", 1.5, "", 7, False, 4, 7.5, 64, True, True, "paper",
        True, 2, 0.01, 0.001, 0.9, 1.0, 0.01, 0, 0,
        api_name="/generate",
    )
    assert Image.open(image).size == (64, 64)
    assert seed == 7 and run["seed"] == 7
    assert len(run["dso"]) == 2 and run["dso_final"]["step"] == 2
    assert run["params"]["gain"] == 2.0 and run["prompt"].endswith("a garden")
    assert json.loads(Path(run_file).read_text())["caption"] == run["caption"]
    assert len(gallery) == 3


def test_bad_audio_gives_a_readable_error(app_url, tmp_path):
    from gradio_client import Client, handle_file

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    client = Client(app_url, verbose=False)
    with pytest.raises(Exception, match="could not be decoded"):
        client.predict(handle_file(str(bad)), 1.0, True, True, "paper", api_name="/caption")


def test_only_the_two_endpoints_are_public(app_url):
    from gradio_client import Client

    endpoints = set(Client(app_url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert endpoints == {"/generate", "/caption"}


def test_endpoints_are_mcp_tools(app_url):
    import httpx

    tools = httpx.get(app_url + "gradio_api/mcp/schema", timeout=30).json()
    assert {tool["name"] for tool in tools} == {"generate", "caption"}


def test_in_a_real_browser(app_url):
    """Headless Debian Chromium (installed by .ci/run) uploads an example, clicks Generate, waits for the image."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    profile = ARTIFACTS / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic"]
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(str(profile), executable_path="/usr/bin/chromium", args=flags, headless=True)
        page = browser.new_page()
        page.goto(app_url)
        page.locator("input[type=file]").first.set_input_files(str(EXAMPLES / "dog_barking.wav"))
        page.get_by_role("button", name="Generate", exact=True).click()
        page.locator("img[src*='image.png'], [data-testid='image'] img").first.wait_for(timeout=120_000)
        page.screenshot(path=str(ARTIFACTS / "app-generate.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "app-generate.png").stat().st_size > 10_000


def test_gpu_duration_reads_the_generate_arguments(monkeypatch):
    """`@spaces.GPU(duration=...)` calls the duration function with generate's arguments, progress included."""
    monkeypatch.setenv("SOUND2IMG_PRESET", "tiny")
    import importlib

    app = importlib.import_module("app")
    args = ["a.wav", "tiny", 1.0, "", 1.0, "", 0, False, 40, 7.5, 512, True, True, "paper", True, 10, 0.01, 0.001, 0.9, 1.0, 0.01, 8, 0]
    assert app._duration(*args, progress=None) == app.web.gpu_seconds(40, 10, 512, True)
