package io.strata.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Level;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The catalog page in a real headless Chromium: what a person sees, types and clicks.
 *
 * <p>The page is served by {@link #startRegistry}, today a JDK HttpServer fixture at the bottom of
 * this class; everything above it (browser, seed data, assertions, screenshots) does not care which
 * server answers, as long as it serves {@code static/} at {@code /} and the given {@code /index.json}.
 */
class CatalogPageTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path BASEDIR = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    private static final Path STATIC_DIR = BASEDIR.resolve("static");
    private static final Path SCREENSHOTS = BASEDIR.resolve("target/screenshots");
    private static final Dimension DESKTOP = new Dimension(1280, 900);
    private static final Dimension PHONE = new Dimension(390, 844);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Held so it is not collected: ChromeDriver needs no CDP bindings, so their version warning is noise. */
    private static final java.util.logging.Logger CDP_LOG = java.util.logging.Logger.getLogger("org.openqa.selenium.devtools");

    private static ChromeDriverService service;
    private static ChromeDriver driver;
    private static Path profile;
    private static Seed seed;

    // ---- browser -------------------------------------------------------------------------------

    @BeforeAll
    static void startBrowser() throws IOException {
        boolean installed = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!installed) {
            String why = "Chromium and ChromeDriver are needed at " + CHROMIUM + " and " + CHROMEDRIVER
                    + " (apt-get install chromium chromium-driver)";
            if ("true".equals(System.getenv("CI"))) fail(why);
            assumeTrue(false, why);
        }
        // Both paths are given, so Selenium Manager never runs and nothing is fetched from the network.
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
        CDP_LOG.setLevel(Level.OFF);
        profile = Files.createTempDirectory("strata-chromium-");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps", "--hide-scrollbars",
                "--user-data-dir=" + profile, "--window-size=" + DESKTOP.width + "," + DESKTOP.height);
        LoggingPreferences logging = new LoggingPreferences();
        logging.enable(LogType.BROWSER, Level.ALL);
        options.setCapability("goog:loggingPrefs", logging);
        service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort()
                .withLogOutput(OutputStream.nullOutputStream())
                .build();
        driver = new ChromeDriver(service, options);
        driver.manage().timeouts().scriptTimeout(WAIT);
        Files.createDirectories(SCREENSHOTS);
        seed = Seed.build();
    }

    @AfterAll
    static void stopBrowser() throws IOException {
        if (driver != null) driver.quit();
        if (service != null) service.stop();
        if (profile != null) deleteTree(profile);
    }

    @BeforeEach
    void freshPage() {
        driver.get("about:blank");
        driver.manage().window().setSize(DESKTOP);
        driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features", List.of()));
        browserErrors(); // drain what earlier tests left in the log
    }

    // ---- the list ------------------------------------------------------------------------------

    @Test
    void lists_every_image_grouped_by_product_newest_first_with_totals() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            openCatalog(registry.baseUrl());

            assertEquals(List.of("alpine:3.20:amd64:default", "debian:12:amd64:cloud", "debian:12:amd64:generic",
                    "debian:12:arm64:cloud", "ubuntu:24.04:amd64:cloud"), productsShown());
            WebElement debian = product("debian:12:amd64:cloud");
            assertEquals(List.of("20261122_1000", "20261101_1000"), texts(debian, "a.version-link"));
            WebElement newest = debian.findElement(By.cssSelector("tr[data-fingerprint='" + seed.debianNew + "']"));
            assertEquals("debian/12\ndebian/bookworm", newest.findElement(By.cssSelector(".aliases")).getText());
            assertEquals(seed.debianNew.substring(0, 12), newest.findElement(By.cssSelector("button.fingerprint")).getText());
            assertEquals("2026-11-22 10:03 UTC", newest.findElement(By.cssSelector("time")).getText(),
                    "the created field wins over the serial");
            WebElement alpine = product("alpine:3.20:amd64:default").findElement(By.cssSelector("tbody tr"));
            assertEquals("2026-11-18 00:00 UTC", alpine.findElement(By.cssSelector("time")).getText(),
                    "without created, the date comes from the serial");
            assertEquals("350 MiB", newest.findElement(By.cssSelector("td[data-label='Download']")).getText(),
                    "367,347,278 bytes in binary units");
            assertEquals("2 GiB", newest.findElement(By.cssSelector("td[data-label='Virtual size']")).getText());

            assertEquals("6", stat("images").findElement(By.cssSelector(".stat-value")).getText());
            assertEquals(String.valueOf(seed.layerCount), stat("layers").findElement(By.cssSelector(".stat-value")).getText());
            assertEquals(String.valueOf(seed.storedBytes), stat("stored").getAttribute("data-bytes"));
            assertEquals(String.valueOf(seed.publishedBytes - seed.storedBytes), stat("saved").getAttribute("data-bytes"));

            screenshot("catalog-desktop");
            driver.executeCdpCommand("Emulation.setEmulatedMedia",
                    Map.of("features", List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
            screenshot("catalog-desktop-dark");
            assertNoBrowserErrors();
        }
    }

    @Test
    void search_and_filters_narrow_the_list_and_live_in_the_url() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            openCatalog(registry.baseUrl());

            search("ubuntu");
            waitForProducts(List.of("ubuntu:24.04:amd64:cloud"));
            assertTrue(driver.getCurrentUrl().endsWith("#/?q=ubuntu"), driver.getCurrentUrl());

            driver.navigate().refresh();
            waitForProducts(List.of("ubuntu:24.04:amd64:cloud"));
            assertEquals("ubuntu", driver.findElement(By.id("search")).getDomProperty("value"));

            driver.navigate().back();
            waitForProducts(seed.allProducts());
            assertEquals("", driver.findElement(By.id("search")).getDomProperty("value"));

            new Select(driver.findElement(By.id("filter-os"))).selectByValue("debian");
            waitForProducts(List.of("debian:12:amd64:cloud", "debian:12:amd64:generic", "debian:12:arm64:cloud"));
            assertEquals(List.of("", "12"), optionValues("filter-release"), "releases follow the chosen os");
            new Select(driver.findElement(By.id("filter-arch"))).selectByValue("arm64");
            waitForProducts(List.of("debian:12:arm64:cloud"));
            assertTrue(driver.getCurrentUrl().endsWith("#/?os=debian&arch=arm64"), driver.getCurrentUrl());
            driver.navigate().back();
            waitForProducts(List.of("debian:12:amd64:cloud", "debian:12:amd64:generic", "debian:12:arm64:cloud"));

            driver.get(registry.baseUrl() + "/#/");
            waitForProducts(seed.allProducts());
            search("debian/bookworm");        // an alias
            waitForProducts(List.of("debian:12:amd64:cloud"));
            assertEquals(List.of("20261122_1000"), texts(product("debian:12:amd64:cloud"), "a.version-link"));
            search(seed.alpine.substring(0, 10)); // a fingerprint prefix
            waitForProducts(List.of("alpine:3.20:amd64:default"));
            search("Noble Numbat");           // words of a release title
            waitForProducts(List.of("ubuntu:24.04:amd64:cloud"));
            search("no such image");
            wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='no-match']")));
            assertTrue(driver.findElement(By.id("results")).getText().contains("No images match these filters"));
            assertNoBrowserErrors();
        }
    }

    // ---- one image -----------------------------------------------------------------------------

    @Test
    void detail_draws_the_chain_base_to_top_and_what_a_client_still_downloads() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            openCatalog(registry.baseUrl());
            product("debian:12:amd64:cloud").findElement(By.linkText("20261122_1000")).click();
            WebElement detail = waitForDetail(seed.debianNew);
            assertTrue(driver.getCurrentUrl().endsWith("#/image/" + seed.debianNew), driver.getCurrentUrl());

            List<WebElement> layers = detail.findElements(By.cssSelector("ol.chain > li.layer"));
            assertEquals(List.of(seed.debianBase, seed.debianCloud, seed.debianNew),
                    layers.stream().map(layer -> layer.getAttribute("data-layer")).toList(), "base first, top last");
            assertTrue(layers.get(0).getText().startsWith("1\nBASE"), layers.get(0).getText());
            assertTrue(layers.get(2).getText().startsWith("3\nTOP"), layers.get(2).getText());
            assertTrue(layers.get(0).getText().contains("Also in 2 other images"), layers.get(0).getText());
            assertTrue(layers.get(1).getText().contains("Also in 1 other image: debian:12:amd64:cloud 20261101_1000"),
                    layers.get(1).getText());
            assertTrue(layers.get(2).getText().contains("Only this image uses this layer"), layers.get(2).getText());

            // Only the top layer is unique to this image: 12,928,590 bytes.
            WebElement unique = detail.findElement(By.cssSelector("[data-stat='unique']"));
            assertEquals(String.valueOf(seed.debianNewTopSize), unique.getAttribute("data-bytes"));
            assertEquals("12.3 MiB", unique.findElement(By.cssSelector(".stat-value")).getText());
            assertEquals("12,928,590 bytes", unique.findElement(By.cssSelector(".stat-note")).getText());

            assertEquals("strata pull debian/12 --registry " + registry.baseUrl(),
                    detail.findElement(By.cssSelector("[data-command='pull'] pre")).getText());
            assertEquals("qemu-img info --backing-chain " + registry.baseUrl() + "/layers/" + seed.debianNew + ".qcow2",
                    detail.findElement(By.cssSelector("[data-command='qemu'] pre")).getText());
            assertEquals(List.of("20261101_1000"), texts(detail, "section[aria-labelledby='older-heading'] a.version-link"));
            screenshot("detail-desktop");

            // An older version names its fingerprint in the pull command and points at the newest.
            detail.findElement(By.linkText("20261101_1000")).click();
            WebElement older = waitForDetail(seed.debianOld);
            assertEquals("strata pull " + seed.debianOld + " --registry " + registry.baseUrl(),
                    older.findElement(By.cssSelector("[data-command='pull'] pre")).getText());
            assertTrue(older.findElement(By.cssSelector(".notice")).getText().contains("20261122_1000"));

            driver.navigate().back();
            waitForDetail(seed.debianNew);
            driver.navigate().back();
            waitForProducts(seed.allProducts());
            assertNoBrowserErrors();
        }
    }

    @Test
    void strings_from_publishers_render_as_text_never_as_markup() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            driver.get(registry.baseUrl() + "/#/image/" + seed.ubuntu);
            WebElement detail = waitForDetail(seed.ubuntu);

            WebElement description = detail.findElement(By.cssSelector(".description"));
            assertTrue(description.getText().contains("<script>window.__xss=1</script>"), description.getText());
            assertTrue(description.getText().contains("<img src=x onerror=window.__xss=2>"), description.getText());
            assertTrue(description.findElements(By.cssSelector("*")).isEmpty(), "the description holds no elements");
            WebElement property = detail.findElement(By.cssSelector(".fact[data-kind='property']"));
            assertEquals("notes\n<b onmouseover=window.__xss=3>bold</b>", property.getText());
            assertEquals(List.of("ubuntu/24.04", "ubuntu/<i>noble</i>"), texts(detail, ".detail-badges .alias"));
            assertEquals(1L, js("return document.querySelectorAll('img').length"), "only the logo is an image");
            assertEquals(0L, js("return document.querySelectorAll('body script, main i, main b').length"));
            assertEquals("undefined", js("return typeof window.__xss"));
            screenshot("detail-escaped-desktop");
            assertNoBrowserErrors();
        }
    }

    @Test
    void copying_a_fingerprint_gives_visible_and_announced_feedback() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            openCatalog(registry.baseUrl());
            driver.executeCdpCommand("Browser.grantPermissions", Map.of("origin", registry.baseUrl(),
                    "permissions", List.of("clipboardReadWrite", "clipboardSanitizedWrite")));
            WebElement button = product("alpine:3.20:amd64:default").findElement(By.cssSelector("button.fingerprint"));
            button.click();

            wait.until(ExpectedConditions.textToBePresentInElement(button, "Copied"));
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("announcer"), "Fingerprint copied"));
            assertEquals(seed.alpine, driver.executeAsyncScript(
                    "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('read failed: ' + e))"));
            wait.until(ExpectedConditions.textToBePresentInElement(button, seed.alpine.substring(0, 12)));
            assertNoBrowserErrors();
        }
    }

    // ---- keyboard ------------------------------------------------------------------------------

    @Test
    void slash_focuses_search_enter_opens_an_image_and_escape_closes_it() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            openCatalog(registry.baseUrl());
            new Actions(driver).sendKeys("/").perform();
            assertEquals("search", driver.switchTo().activeElement().getAttribute("id"));
            assertEquals("", driver.findElement(By.id("search")).getDomProperty("value"), "the slash is not typed");

            WebElement link = product("ubuntu:24.04:amd64:cloud").findElement(By.cssSelector("a.version-link"));
            link.sendKeys(Keys.ENTER);
            waitForDetail(seed.ubuntu);
            assertEquals("h1", driver.switchTo().activeElement().getTagName(), "focus moves to the image's heading");

            new Actions(driver).sendKeys(Keys.ESCAPE).perform();
            waitForProducts(seed.allProducts());
            assertEquals(seed.ubuntu, driver.switchTo().activeElement().getAttribute("data-fingerprint"),
                    "focus returns to the link that opened the image");

            driver.switchTo().activeElement().sendKeys(Keys.ENTER);
            waitForDetail(seed.ubuntu);
            new Actions(driver).sendKeys("/").perform();
            waitForProducts(seed.allProducts());
            wait.until(d -> "search".equals(d.switchTo().activeElement().getAttribute("id")));
            assertNoBrowserErrors();
        }
    }

    // ---- empty and failing registries ------------------------------------------------------------

    @Test
    void an_empty_registry_says_no_images_published_yet() throws Exception {
        String empty = "{\"format\":\"strata-index:1.0\",\"updated\":\"2026-11-22T10:00:00Z\","
                + "\"aliases\":{},\"images\":{},\"layers\":{}}";
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, empty)) {
            driver.get(registry.baseUrl() + "/");
            WebElement status = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='empty']")));
            assertTrue(status.getText().startsWith("No images published yet"), status.getText());
            assertTrue(status.getText().contains("strata push"), "says how to publish: " + status.getText());
            assertFalse(driver.findElement(By.id("list-view")).isDisplayed());
            screenshot("empty-desktop");
            assertNoBrowserErrors();
        }
    }

    @Test
    void a_failing_index_is_reported_and_retry_recovers() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            registry.failIndexWith(500);
            driver.get(registry.baseUrl() + "/");
            WebElement error = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='error']")));
            assertTrue(error.getText().startsWith("The registry could not serve its catalog"), error.getText());
            assertTrue(error.getText().contains("HTTP 500"), error.getText());
            assertEquals("Retry", driver.switchTo().activeElement().getText(), "focus lands on Retry");
            screenshot("error-desktop");
            assertOnlyIndexRequestsFailed();

            registry.serveIndex(seed.json());
            error.findElement(By.xpath(".//button[.='Retry']")).click();
            waitForProducts(seed.allProducts());
            assertNoBrowserErrors();
        }
    }

    @Test
    void a_stopped_registry_is_reported_as_unreachable() throws Exception {
        FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json());
        try (registry) {
            registry.failIndexWith(503);
            driver.get(registry.baseUrl() + "/");
            wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='error']")));
        }
        driver.findElement(By.xpath("//button[.='Retry']")).click();
        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("status-view"), "Cannot reach the registry"));
        assertTrue(driver.findElement(By.id("status-view")).getText().contains("Retry"));
        assertOnlyIndexRequestsFailed();
    }

    // ---- phone width -----------------------------------------------------------------------------

    @Test
    void phone_width_fits_without_sideways_scrolling() throws Exception {
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, seed.json())) {
            driver.manage().window().setSize(PHONE);
            openCatalog(registry.baseUrl());
            assertFitsWidth();
            screenshot("catalog-phone");

            driver.get(registry.baseUrl() + "/#/image/" + seed.debianNew);
            waitForDetail(seed.debianNew);
            assertFitsWidth();
            screenshot("detail-phone");
            assertNoBrowserErrors();
        }
    }

    // ---- scale ---------------------------------------------------------------------------------

    @Test
    void ten_thousand_images_render_and_search_without_freezing() throws Exception {
        String big = Seed.synthetic(10_000);
        try (FixtureRegistry registry = startRegistry(STATIC_DIR, big)) {
            long start = System.nanoTime();
            driver.get(registry.baseUrl() + "/");
            wait.until(d -> d.findElements(By.cssSelector("#results article.product")).size() == 20);
            long firstView = millisSince(start);
            assertTrue(driver.findElement(By.id("result-summary")).getText().startsWith("10,000 images in 200 products"),
                    driver.findElement(By.id("result-summary")).getText());
            long rows = (Long) js("return document.querySelectorAll('tr[data-fingerprint]').length");
            assertTrue(rows <= 60, "only the visible page is in the DOM, got " + rows + " rows");

            start = System.nanoTime();
            search("fedora:3:arm64");
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("result-summary"), "100 images in 2 products"));
            long searchRoundTrip = millisSince(start);

            start = System.nanoTime();
            driver.findElement(By.cssSelector("#results a.version-link")).click();
            wait.until(d -> d.findElements(By.cssSelector("#detail-view ol.chain li.layer")).size() >= 3);
            long detail = millisSince(start);
            assertTrue(driver.findElement(By.cssSelector("#detail-view li.layer")).getText().contains("more"),
                    "a base shared by many images lists a few and counts the rest");

            System.out.printf("10,000 images: first view %d ms, search %d ms, detail %d ms%n", firstView, searchRoundTrip, detail);
            assertTrue(firstView < 8_000, "first view took " + firstView + " ms");
            assertTrue(searchRoundTrip < 3_000, "search took " + searchRoundTrip + " ms");
            assertTrue(detail < 3_000, "detail took " + detail + " ms");

            new Actions(driver).sendKeys(Keys.ESCAPE).perform();
            wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("list-view")));
            WebElement more = driver.findElement(By.xpath("//article[@data-product='fedora:3:arm64:cloud']//button[.='Show 47 older versions']"));
            more.click();
            wait.until(d -> product("fedora:3:arm64:cloud").findElements(By.cssSelector("tbody tr")).size() == 50);
            assertEquals("Show fewer", driver.switchTo().activeElement().getText(), "focus stays on the card's action");
            search("");
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("result-summary"), "10,000 images"));
            driver.findElement(By.cssSelector("#pager a[rel='next']")).click();
            wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("result-summary"), "showing products 21\u201340"));
            assertTrue(driver.getCurrentUrl().endsWith("#/?page=2"), driver.getCurrentUrl());
            assertEquals("result-summary", driver.switchTo().activeElement().getAttribute("id"),
                    "a new page starts at its top");
            screenshot("catalog-10k-desktop");
            assertNoBrowserErrors();
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    private final WebDriverWait wait = new WebDriverWait(driver, WAIT);

    private void openCatalog(String baseUrl) {
        driver.get(baseUrl + "/");
        wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("#results article.product")));
    }

    private void search(String text) {
        WebElement box = driver.findElement(By.id("search"));
        box.sendKeys(Keys.chord(Keys.CONTROL, "a"), Keys.BACK_SPACE);
        if (!text.isEmpty()) box.sendKeys(text);
        else box.sendKeys(Keys.ENTER);
    }

    private List<String> productsShown() {
        return driver.findElements(By.cssSelector("#results article.product")).stream()
                .map(card -> card.getAttribute("data-product")).toList();
    }

    private void waitForProducts(List<String> expected) {
        try {
            wait.until(d -> expected.equals(productsShown()));
        } catch (RuntimeException e) {
            fail("expected products " + expected + " but the page shows " + productsShown(), e);
        }
    }

    private WebElement waitForDetail(String fingerprint) {
        return wait.until(ExpectedConditions.visibilityOfElementLocated(
                By.cssSelector("#detail-view article.detail[data-fingerprint='" + fingerprint + "']")));
    }

    private WebElement product(String product) {
        return driver.findElement(By.cssSelector("#results article.product[data-product='" + product + "']"));
    }

    private WebElement stat(String name) {
        return driver.findElement(By.cssSelector("#stats [data-stat='" + name + "']"));
    }

    private static List<String> texts(WebElement root, String css) {
        return root.findElements(By.cssSelector(css)).stream().map(WebElement::getText).toList();
    }

    private List<String> optionValues(String selectId) {
        return new Select(driver.findElement(By.id(selectId))).getOptions().stream()
                .map(option -> option.getAttribute("value")).toList();
    }

    private static Object js(String script) {
        return ((JavascriptExecutor) driver).executeScript(script);
    }

    private void assertFitsWidth() {
        long overflow = (Long) js("return document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assertEquals(0L, overflow, "the page scrolls sideways by " + overflow + " px at phone width");
    }

    private static List<LogEntry> browserErrors() {
        return driver.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(entry -> entry.getLevel().intValue() >= Level.SEVERE.intValue()).toList();
    }

    private static void assertNoBrowserErrors() {
        List<LogEntry> errors = browserErrors();
        assertTrue(errors.isEmpty(), "console errors: " + errors);
    }

    /** The failed index request itself is logged by Chrome; nothing else may be. */
    private static void assertOnlyIndexRequestsFailed() {
        List<LogEntry> errors = browserErrors();
        assertFalse(errors.isEmpty(), "Chrome logs the failed index request");
        assertTrue(errors.stream().allMatch(entry -> entry.getMessage().contains("/index.json")), "console errors: " + errors);
    }

    /** Saves the whole page, not just the viewport, as target/screenshots/NAME.png. */
    @SuppressWarnings("unchecked")
    private static void screenshot(String name) throws IOException {
        long width = (Long) js("return document.documentElement.clientWidth");
        long height = Math.min(6000, (Long) js("return document.documentElement.scrollHeight"));
        Map<String, Object> shot = driver.executeCdpCommand("Page.captureScreenshot", Map.of(
                "format", "png", "captureBeyondViewport", true,
                "clip", Map.of("x", 0, "y", 0, "width", width, "height", height, "scale", 1)));
        Files.write(SCREENSHOTS.resolve(name + ".png"), Base64.getDecoder().decode((String) shot.get("data")));
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    private static void deleteTree(Path root) throws IOException {
        try (var paths = Files.walk(root)) {
            paths.sorted(java.util.Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        }
    }

    // ---- seed data -----------------------------------------------------------------------------

    /** A small registry: debian amd64 in two versions and a second variant sharing a base, and more. */
    static final class Seed {
        final IndexDocument index = new IndexDocument();
        String debianBase, debianCloud, debianOld, debianNew, alpine, ubuntu;
        long debianNewTopSize = 12_928_590, debianNewDownload, storedBytes, publishedBytes;
        int layerCount;

        static Seed build() {
            Seed seed = new Seed();
            IndexDocument index = seed.index;
            long gib = 1L << 30, mib = 1L << 20;
            seed.debianBase = index.layer("debian-12-amd64-base", 310_378_496, 2 * gib, null);
            seed.debianCloud = index.layer("debian-12-amd64-cloud-init", 44_040_192, 2 * gib, seed.debianBase);
            seed.debianOld = index.layer("debian-12-amd64-cloud-20261101", 7_340_544, 2 * gib, seed.debianCloud);
            seed.debianNew = index.layer("debian-12-amd64-cloud-20261122", seed.debianNewTopSize, 2 * gib, seed.debianCloud);
            String generic = index.layer("debian-12-amd64-generic-20261122", 5_243_003, 2 * gib, seed.debianBase);
            String armBase = index.layer("debian-12-arm64-base", 301_989_888, 2 * gib, null);
            String armTop = index.layer("debian-12-arm64-cloud-20261122", 9_437_184, 2 * gib, armBase);
            String ubuntuBase = index.layer("ubuntu-24.04-amd64-base", 629_145_600, 3584 * mib, null);
            seed.ubuntu = index.layer("ubuntu-24.04-amd64-cloud-20261120", 20_971_520, 3584 * mib, ubuntuBase);
            seed.alpine = index.layer("alpine-3.20-amd64-default-20261118", 50_331_648, 512 * mib, null);

            index.image("debian", "12", "amd64", "cloud", "20261101_1000", List.of(seed.debianBase, seed.debianCloud, seed.debianOld),
                    List.of(), "Debian 12 (bookworm)", "Debian 12 cloud image with cloud-init.", "2026-11-01T10:00:00Z", Map.of());
            index.image("debian", "12", "amd64", "cloud", "20261122_1000", List.of(seed.debianBase, seed.debianCloud, seed.debianNew),
                    List.of("debian/12", "debian/bookworm"), "Debian 12 (bookworm)", "Debian 12 cloud image with cloud-init.",
                    "2026-11-22T10:03:00Z", Map.of("kernel", "6.1.0-28"));
            index.image("debian", "12", "amd64", "generic", "20261122_1000", List.of(seed.debianBase, generic),
                    List.of("debian/12/generic"), "Debian 12 (bookworm)", "Generic Debian 12 for any hypervisor.", null, Map.of());
            index.image("debian", "12", "arm64", "cloud", "20261122_1000", List.of(armBase, armTop),
                    List.of("debian/12/arm64"), "Debian 12 (bookworm)", "", null, Map.of());
            index.image("ubuntu", "24.04", "amd64", "cloud", "20261120_0800", List.of(ubuntuBase, seed.ubuntu),
                    List.of("ubuntu/24.04", "ubuntu/<i>noble</i>"), "Ubuntu 24.04 LTS (Noble Numbat)",
                    "Built by <script>window.__xss=1</script> and <img src=x onerror=window.__xss=2>.\nSecond line.",
                    "2026-11-20T08:00:00Z", Map.of("notes", "<b onmouseover=window.__xss=3>bold</b>"));
            index.image("alpine", "3.20", "amd64", "default", "20261118_0000", List.of(seed.alpine),
                    List.of("alpine/3.20"), "Alpine 3.20", "", null, Map.of());

            seed.layerCount = index.layers.size();
            index.layers.forEach((digest, layer) -> seed.storedBytes += layer.get("size").asLong());
            index.images.forEach(image -> seed.publishedBytes += image.get("download_size").asLong());
            seed.debianNewDownload = 310_378_496L + 44_040_192L + seed.debianNewTopSize;
            return seed;
        }

        String json() {
            return index.json();
        }

        List<String> allProducts() {
            return List.of("alpine:3.20:amd64:default", "debian:12:amd64:cloud", "debian:12:amd64:generic",
                    "debian:12:arm64:cloud", "ubuntu:24.04:amd64:cloud");
        }

        /**
         * {@code count} images: 10 os x 5 releases x 2 arches x 2 variants = 200 products, each with
         * count/200 versions whose chains (depth 3 to 8) share the product's base, variant and middle layers.
         */
        static String synthetic(int count) {
            IndexDocument index = new IndexDocument();
            List<String> systems = List.of("almalinux", "alpine", "archlinux", "centos", "debian", "fedora",
                    "opensuse", "rockylinux", "ubuntu", "voidlinux");
            List<String> arches = List.of("amd64", "arm64");
            List<String> variants = List.of("cloud", "default");
            int products = systems.size() * 5 * arches.size() * variants.size();
            int versions = count / products;
            LocalDateTime epoch = LocalDateTime.of(2024, 1, 1, 6, 0);
            DateTimeFormatter serial = DateTimeFormatter.ofPattern("yyyyMMdd_HHmm");
            for (String os : systems) {
                for (int release = 1; release <= 5; release++) {
                    for (String arch : arches) {
                        String id = os + "-" + release + "-" + arch;
                        String base = index.layer(id + "-base", 200_000_000L + release * 1_000_000L, 4L << 30, null);
                        for (String variant : variants) {
                            String variantLayer = index.layer(id + "-" + variant, 30_000_000, 4L << 30, base);
                            List<String> middles = new ArrayList<>();
                            String parent = variantLayer;
                            for (int m = 0; m < 5; m++) {
                                parent = index.layer(id + "-" + variant + "-mid" + m, 5_000_000 + m, 4L << 30, parent);
                                middles.add(parent);
                            }
                            for (int v = 0; v < versions; v++) {
                                List<String> chain = new ArrayList<>(List.of(base, variantLayer));
                                chain.addAll(middles.subList(0, v % 6));
                                String top = index.layer(id + "-" + variant + "-v" + v, 1_000_000 + v,
                                        4L << 30, chain.get(chain.size() - 1));
                                chain.add(top);
                                List<String> aliases = v == versions - 1
                                        ? List.of(os + "/" + release + "/" + arch + "/" + variant) : List.of();
                                index.image(os, String.valueOf(release), arch, variant,
                                        epoch.plusDays(v).plusHours(release).format(serial), chain, aliases,
                                        os + " " + release, "Synthetic image " + v, null, Map.of());
                            }
                        }
                    }
                }
            }
            return index.json();
        }
    }

    /** Builds an /index.json document as DESIGN §4 describes it. */
    static final class IndexDocument {
        final Map<String, ObjectNode> layers = new LinkedHashMap<>();
        final List<ObjectNode> images = new ArrayList<>();
        private final ObjectNode root = JSON.createObjectNode();

        IndexDocument() {
            root.put("format", "strata-index:1.0").put("updated", "2026-11-22T10:05:00Z");
            root.putObject("aliases");
            root.putObject("images");
            root.putObject("layers");
        }

        /** Adds a layer named by a fake but well-formed sha256 of {@code name}; returns the digest. */
        String layer(String name, long size, long virtualSize, String parent) {
            String digest = sha256(name);
            ObjectNode layer = ((ObjectNode) root.get("layers")).putObject(digest);
            layer.put("size", size).put("virtual_size", virtualSize).put("parent", parent)
                    .put("path", "layers/" + digest + ".qcow2");
            layers.put(digest, layer);
            return digest;
        }

        void image(String os, String release, String arch, String variant, String version, List<String> chain,
                   List<String> aliases, String releaseTitle, String description, String created,
                   Map<String, String> properties) {
            String fingerprint = chain.get(chain.size() - 1);
            ObjectNode image = ((ObjectNode) root.get("images")).putObject(fingerprint);
            image.put("product", String.join(":", os, release, arch, variant)).put("version", version)
                    .put("os", os).put("release", release).put("arch", arch).put("variant", variant);
            ArrayNode aliasNames = image.putArray("aliases");
            aliases.forEach(alias -> {
                aliasNames.add(alias);
                ((ObjectNode) root.get("aliases")).put(alias, fingerprint);
            });
            chain.forEach(image.putArray("chain")::add);
            image.put("download_size", chain.stream().mapToLong(digest -> layers.get(digest).get("size").asLong()).sum());
            image.put("virtual_size", layers.get(fingerprint).get("virtual_size").asLong());
            image.put("release_title", releaseTitle).put("description", description);
            if (created != null) image.put("created", created);
            ObjectNode props = image.putObject("properties");
            properties.forEach(props::put);
            images.add(image);
        }

        String json() {
            try {
                return JSON.writeValueAsString(root);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        private static String sha256(String text) {
            try {
                return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    // =============================================================================================
    // The server under the page. This is the one piece to replace with the real Strata server:
    // startRegistry must serve static/ at "/" (index.html) and "/<name>", and indexJson at
    // "/index.json". failIndexWith/serveIndex are fixture-only faults, used by the two tests for a
    // failing and a stopped registry.
    // =============================================================================================

    static FixtureRegistry startRegistry(Path staticDir, String indexJson) throws IOException {
        return new FixtureRegistry(staticDir, indexJson);
    }

    static final class FixtureRegistry implements AutoCloseable {
        private static final Pattern ASSET = Pattern.compile("/[A-Za-z0-9][A-Za-z0-9._-]*");
        private static final Map<String, String> TYPES = Map.of(
                "html", "text/html; charset=utf-8", "js", "text/javascript; charset=utf-8",
                "css", "text/css; charset=utf-8", "svg", "image/svg+xml", "json", "application/json");

        private final Path staticDir;
        private final HttpServer server;
        private final ExecutorService executor = Executors.newFixedThreadPool(4);
        private volatile byte[] index;
        private volatile int indexStatus = 200;

        private FixtureRegistry(Path staticDir, String indexJson) throws IOException {
            this.staticDir = staticDir;
            this.index = indexJson.getBytes(StandardCharsets.UTF_8);
            server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            server.createContext("/", this::handle);
            server.setExecutor(executor);
            server.start();
        }

        String baseUrl() {
            return "http://127.0.0.1:" + server.getAddress().getPort();
        }

        void failIndexWith(int status) {
            indexStatus = status;
        }

        void serveIndex(String json) {
            index = json.getBytes(StandardCharsets.UTF_8);
            indexStatus = 200;
        }

        private void handle(HttpExchange exchange) throws IOException {
            try (exchange) {
                String path = exchange.getRequestURI().getPath();
                exchange.getResponseHeaders().set("Cache-Control", "no-store");
                if (!"GET".equals(exchange.getRequestMethod())) {
                    send(exchange, 405, "text/plain", "method not allowed".getBytes(StandardCharsets.UTF_8));
                } else if ("/index.json".equals(path)) {
                    if (indexStatus == 200) send(exchange, 200, TYPES.get("json"), index);
                    else send(exchange, indexStatus, TYPES.get("json"),
                            "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"fixture fault\"}]}".getBytes(StandardCharsets.UTF_8));
                } else {
                    Path file = "/".equals(path) ? staticDir.resolve("index.html")
                            : ASSET.matcher(path).matches() ? staticDir.resolve(path.substring(1)) : null;
                    if (file != null && Files.isRegularFile(file)) {
                        String name = file.getFileName().toString();
                        send(exchange, 200, TYPES.getOrDefault(name.substring(name.lastIndexOf('.') + 1),
                                "application/octet-stream"), Files.readAllBytes(file));
                    } else {
                        send(exchange, 404, "text/plain", "not found".getBytes(StandardCharsets.UTF_8));
                    }
                }
            }
        }

        private static void send(HttpExchange exchange, int status, String type, byte[] body) throws IOException {
            exchange.getResponseHeaders().set("Content-Type", type);
            exchange.sendResponseHeaders(status, body.length);
            exchange.getResponseBody().write(body);
        }

        @Override
        public void close() {
            server.stop(0);
            executor.shutdownNow();
        }
    }
}
