"""The kerasfg tab in headless Chromium, against a real TensorBoard with each data provider.

Drives Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
with Selenium, never a downloaded browser. Without them the tests skip, except under CI (``CI`` set),
where a missing browser is a failure. Screenshots go to each test's ``tmp_path``.
"""

import json
import os
import pathlib
import shutil
import time
import urllib.parse

import pytest
from plugin_fixtures import PROBES, REAL_PROBES, REAL_RUN, STEPS, TABLE_COLUMNS, XSS_RUN, activations, feature_maps

CHROMIUM = os.environ.get("KERASFG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KERASFG_CHROMEDRIVER", "/usr/bin/chromedriver")
ENTRY = "/data/plugin_entry.html?name=kerasfg"


def _missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (pathlib.Path(path).exists() or shutil.which(path)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by Selenium."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but {missing}")
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(driver, script, timeout=30):
    """The first truthy result of ``script`` (JavaScript returning a value), polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


RENDERED = "const g = document.querySelector('.side-by-side'); return g && g.dataset.renderedStep;"
CANVASES = "return [...document.querySelectorAll('canvas.overlay')].map((c) => c.toDataURL());"
NON_BLANK = """return [...document.querySelectorAll('canvas.overlay')].map((c) => {
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return c.width > 0 && data.some((v, i) => i % 4 !== 3 && v !== data[i % 4]);
});"""
PROBES_LOADED = """return [...document.querySelectorAll('img.probe')].map((i) => i.complete && i.naturalWidth > 0);"""


def all_loaded(count, selector="main img"):
    """A script that is true once ``count`` images match ``selector``, all of them decoded."""
    return (f"const images = [...document.querySelectorAll('{selector}')]; return images.length === {count} "
            "&& images.every((i) => i.complete && i.naturalWidth > 0);")


def choose(driver, label, value):
    """Pick ``value`` in the select labelled ``label`` of the current view."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for control in driver.find_elements(By.CSS_SELECTOR, "main label.control"):
        if control.find_element(By.TAG_NAME, "span").text == label:
            Select(control.find_element(By.TAG_NAME, "select")).select_by_value(value)
            return
    raise AssertionError(f"no control labelled {label!r}")


def open_view(driver, name):
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"nav button[data-view='{name}']").click()
    wait_for(driver, f"return document.querySelector('main').dataset.view === '{name}'")


def test_explanations_show_two_runs_and_follow_the_step_slider(browser, tensorboard, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(tensorboard.url + ENTRY)
    wait_for(browser, RENDERED)
    choose(browser, "Run", "alpha")
    wait_for(browser, RENDERED)
    choose(browser, "Beside it", "beta")
    assert wait_for(browser, RENDERED) == str(STEPS[0])
    panels = [h.text for h in browser.find_elements(By.CSS_SELECTOR, ".side-by-side .panel h3.run-name")]
    assert panels == ["alpha", "beta"]
    methods = browser.find_elements(By.CSS_SELECTOR, ".panel[data-run='alpha'] thead .method")
    assert sorted(m.text for m in methods) == ["attention", "attention", "gradcam", "saliency"]
    assert wait_for(browser, PROBES_LOADED) == [True] * (2 * PROBES)
    assert all(browser.execute_script(NON_BLANK))
    assert len(browser.execute_script(NON_BLANK)) == 2 * 4 * PROBES
    before = browser.execute_script(CANVASES)
    browser.save_screenshot(str(tmp_path / "explanations_step0.png"))

    slider = browser.find_element(By.CSS_SELECTOR, "input.step-slider")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait_for(browser, f"return document.querySelector('.side-by-side').dataset.renderedStep === '{STEPS[2]}'")
    assert browser.find_element(By.CSS_SELECTOR, ".step-label").text == f"step {STEPS[2]}"
    after = browser.execute_script(CANVASES)
    assert len(after) == len(before)
    changed = sum(a != b for a, b in zip(before, after))
    assert changed >= len(before) // 2, changed  # random heat maps per step, attention maps that trained
    browser.save_screenshot(str(tmp_path / "explanations_step2.png"))

    fetched = browser.execute_script("return performance.getEntriesByType('resource').length")
    choose(browser, "Colour map", "viridis")
    wait_for(browser, f"return document.querySelectorAll('canvas.overlay')[0].toDataURL() !== '{after[0]}'")
    recoloured = browser.execute_script(CANVASES)
    assert all(a != b for a, b in zip(after, recoloured))
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == fetched  # no refetch
    browser.save_screenshot(str(tmp_path / "explanations_viridis.png"))


def test_hostile_run_names_are_shown_as_text(browser, tensorboard, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    browser.get(tensorboard.url + ENTRY)
    wait_for(browser, RENDERED)
    choose(browser, "Run", XSS_RUN)
    wait_for(browser, RENDERED)
    names = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h3.run-name")]
    assert XSS_RUN in names
    options = [o.get_attribute("textContent") for o in browser.find_elements(By.CSS_SELECTOR, "option")]
    assert XSS_RUN in options
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    for view in ("activations", "deep_visualization", "deconvolution", "faithfulness", "sanity_checks",
                 "confusion_matrix"):
        open_view(browser, view)
        time.sleep(0.2)
        assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    browser.save_screenshot(str(tmp_path / "hostile_run_name.png"))


def test_activations_deep_visualization_deconvolution_and_faithfulness(browser, tensorboard, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(tensorboard.url + ENTRY)
    wait_for(browser, RENDERED)

    open_view(browser, "activations")
    choose(browser, "Run", "alpha")
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".gallery figcaption")]
    assert captions == [f"step {s}" for s in STEPS]
    wait_for(browser, all_loaded(len(STEPS)))
    browser.save_screenshot(str(tmp_path / "activations.png"))

    open_view(browser, "deep_visualization")
    choose(browser, "Run", "beta")
    wait_for(browser, "return document.querySelectorAll('.layer figure img').length === 3")
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".layer figcaption")]
    assert captions == [f"unit {unit}: activation {value:.3f}" for unit, value in enumerate(activations(STEPS[-1]))]
    choose(browser, "Step", str(STEPS[1]))
    wait_for(browser, f"return document.querySelector('.layer figcaption')?.textContent === "
                      f"'unit 0: activation {activations(STEPS[1])[0]:.3f}'")
    settings = [d.text for d in browser.find_elements(By.CSS_SELECTOR, ".settings dt")]
    assert sorted(settings) == ["blur_every", "blur_sigma", "l2_decay", "steps"]
    assert "preset yosinski" in browser.find_element(By.CSS_SELECTOR, ".layer h3").text
    browser.save_screenshot(str(tmp_path / "deep_visualization.png"))

    open_view(browser, "deconvolution")
    wait_for(browser, f"return document.querySelector('.rows').dataset.renderedStep === '{STEPS[-1]}'")
    wait_for(browser, all_loaded(2 * PROBES))

    def deconvolution_captions():
        return [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".rows figcaption")]

    def expected_captions(step):
        return [f"image {row}: feature maps {json.dumps(maps, separators=(',', ':'))}"
                for row, maps in enumerate(feature_maps(step))]

    assert deconvolution_captions() == expected_captions(STEPS[-1])
    browser.save_screenshot(str(tmp_path / "deconvolution.png"))
    browser.find_element(By.CSS_SELECTOR, "input.step-slider").send_keys(Keys.ARROW_LEFT)
    wait_for(browser, f"return document.querySelector('.rows').dataset.renderedStep === '{STEPS[-2]}'")
    assert deconvolution_captions() == expected_captions(STEPS[-2])  # each step's own feature maps

    open_view(browser, "faithfulness")
    choose(browser, "Run", "alpha")
    wait_for(browser, "return document.querySelectorAll('table.scores tbody tr').length === 2")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.scores th")]
    assert headers == ["step", *TABLE_COLUMNS]
    first = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.scores tbody tr:first-child td")]
    assert first == [str(STEPS[-1]), "gradcam", "0.700", "0.230", "0.750"]
    choose(browser, "Step", "all")
    wait_for(browser, f"return document.querySelectorAll('table.scores tbody tr').length === {2 * len(STEPS)}")
    browser.save_screenshot(str(tmp_path / "faithfulness.png"))

    link = browser.find_element(By.CSS_SELECTOR, "a.scalars-link")
    assert link.get_attribute("target") == "_top"
    assert link.get_attribute("href") == tensorboard.url + "/#scalars&tagFilter=progress"


def texts(driver, selector):
    from selenium.webdriver.common.by import By

    return [node.text for node in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_every_view_shows_what_the_callbacks_recorded(browser, tensorboard, tmp_path):
    """The run written only by kerasfg's callbacks during a real fit, in each view."""
    from selenium.webdriver.common.by import By

    last = str(STEPS[-1])
    browser.get(tensorboard.url + ENTRY)
    wait_for(browser, RENDERED)
    choose(browser, "Run", REAL_RUN)
    choose(browser, "Beside it", "")
    wait_for(browser, RENDERED)
    assert texts(browser, ".side-by-side h3.run-name") == [REAL_RUN]
    assert sorted(texts(browser, ".panel thead .method")) == ["attention", "attention", "gradcam", "saliency"]
    assert wait_for(browser, PROBES_LOADED) == [True] * PROBES
    assert browser.execute_script(NON_BLANK) == [True] * (4 * PROBES)
    assert texts(browser, ".probe-count") == [f"heat maps of the first {PROBES} of the {REAL_PROBES} probe images"]
    browser.save_screenshot(str(tmp_path / "real_explanations.png"))

    open_view(browser, "activations")
    choose(browser, "Run", REAL_RUN)
    wait_for(browser, all_loaded(len(STEPS)))
    layer_options = browser.execute_script(
        "return [...document.querySelectorAll('main label.control')].find((l) => l.textContent.startsWith('Layer'))"
        ".querySelector('select').selectedOptions[0].textContent")
    assert layer_options == "stage1_block1_out"  # the first layer that carries features, in model order
    choose(browser, "Layer", "kerasfg/activations/stage2_block1_out")
    wait_for(browser, all_loaded(len(STEPS)))
    assert texts(browser, ".gallery figcaption") == [f"step {s}" for s in STEPS]
    browser.save_screenshot(str(tmp_path / "real_activations.png"))

    open_view(browser, "deep_visualization")
    choose(browser, "Run", REAL_RUN)
    wait_for(browser, all_loaded(3, ".layer figure img"))
    captions = texts(browser, ".layer figcaption")
    assert [c.split(":")[0] for c in captions] == ["unit 0", "unit 1", "unit 2"]
    assert all(": activation " in c for c in captions)
    assert "preset row3" in texts(browser, ".layer h3")[0]
    browser.save_screenshot(str(tmp_path / "real_deep_visualization.png"))
    browser.find_element(By.CSS_SELECTOR, ".layer figure img.zoomable").click()  # enlarged on a click
    width = wait_for(browser, "const i = document.querySelector('.lightbox img'); return i && i.complete && "
                              "parseInt(i.style.width || '0')")
    assert width >= 4 * 32  # the 32-pixel picture, enlarged by whole multiples
    browser.save_screenshot(str(tmp_path / "real_deep_visualization_enlarged.png"))
    browser.find_element(By.CSS_SELECTOR, ".lightbox").click()
    wait_for(browser, "return !document.querySelector('.lightbox')")

    open_view(browser, "deconvolution")
    choose(browser, "Run", REAL_RUN)
    wait_for(browser, f"return document.querySelector('.rows').dataset.renderedStep === '{last}'")
    wait_for(browser, all_loaded(2 * PROBES))  # each probe image and its row of reconstructions
    recordings = {r["kind"]: r for r in tensorboard.json("/data/plugin/kerasfg/runs")[REAL_RUN]}
    annotations = tensorboard.json("/data/plugin/kerasfg/annotations?" + urllib.parse.urlencode({
        "run": REAL_RUN, "tag": "kerasfg/" + recordings["deconvolution"]["content"]["annotations"], "step": last}))
    assert texts(browser, ".rows figcaption") == [
        f"image {row}: feature maps {json.dumps(maps, separators=(',', ':'))}"
        for row, maps in enumerate(annotations["feature_maps"])]
    browser.save_screenshot(str(tmp_path / "real_deconvolution.png"))

    open_view(browser, "faithfulness")
    choose(browser, "Run", REAL_RUN)
    wait_for(browser, "return document.querySelectorAll('table.scores tbody tr').length === 3")
    assert texts(browser, "section.table h3") == ["faithfulness/identity"]  # the counts are the matrices' own
    assert texts(browser, "table.scores th") == ["step", "method", "pointing_game", "energy_in_mask",
                                                  "deletion_auc", "insertion_auc"]
    assert texts(browser, "table.scores tbody td:nth-child(2)") == ["gradcam", "saliency", "random"]
    assert set(texts(browser, "table.scores tbody td:first-child")) == {last}
    browser.save_screenshot(str(tmp_path / "real_faithfulness.png"))

    open_view(browser, "sanity_checks")
    choose(browser, "Run", REAL_RUN)
    wait_for(browser, "return document.querySelector('section.sanity')?.dataset.rendered")
    assert texts(browser, "section.sanity h3") == ["output identity"]
    assert texts(browser, "section.sanity figcaption") == ["gradcam", "saliency", "guided_backprop", "edges (control)"]
    lines = browser.execute_script("return [...document.querySelectorAll('.sanity-chart polyline')].map((l) => "
                                   "[l.dataset.method, l.getAttribute('points').split(' ').length])")
    assert lines == [[method, 3] for method in ("gradcam", "saliency", "guided_backprop", "edges (control)")]
    browser.save_screenshot(str(tmp_path / "real_sanity_checks.png"))

    open_view(browser, "confusion_matrix")
    wait_for(browser, f"return document.querySelector('.matrices').dataset.renderedStep === '{last}'")
    wait_for(browser, all_loaded(1, "img.confusion"))
    assert texts(browser, "section.matrix h3") == ["identity"]
    assert texts(browser, "table.counts th") == ["true \\ predicted", "0", "1", "2"]
    assert texts(browser, "table.counts tbody td:first-child") == ["0", "1", "2"]
    browser.save_screenshot(str(tmp_path / "real_confusion_matrix.png"))


def test_the_real_tab_shows_the_plugin_in_its_iframe(browser, tensorboard, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(tensorboard.url + "/#kerasfg")
    wait_for(browser, "return document.querySelector('iframe')")
    frame = browser.find_element(By.TAG_NAME, "iframe")
    assert frame.get_attribute("src").endswith(ENTRY)
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, RENDERED)
        assert wait_for(browser, PROBES_LOADED)
        assert all(browser.execute_script(NON_BLANK))
    finally:
        browser.switch_to.default_content()
    browser.save_screenshot(str(tmp_path / "tensorboard_tab.png"))
