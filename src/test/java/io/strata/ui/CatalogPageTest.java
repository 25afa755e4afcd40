package io.strata.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.strata.layer.Digest;
import io.strata.testing.FaultProxy;
import io.strata.testing.Qcow2Fixtures;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Level;
import java.util.stream.StreamSupport;
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
 * The catalog page in a real headless Chromium against the real Strata server: real SQLite, real
 * qcow2 layers made by qemu-img, published through the HTTP API exactly as a publisher would.
 * What a person sees, types and clicks; every figure the page shows is checked against one
 * computed here from the server's own {@code /index.json}.
 *
 * <p>The registry is seeded once for the class and only read by the tests. The empty and the
 * stopped registry get their own servers; the failing index, the failing alias history and the
 * 10,000-image catalog go through a {@link FaultProxy} in front of the seeded server.
 */
class CatalogPageTest {

    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path BASEDIR = Path.of(System.getProperty("basedir", ".")).toAbsolutePath();
    private static final Path SCREENSHOTS = BASEDIR.resolve("target/screenshots");
    private static final Dimension DESKTOP = new Dimension(1280, 900);
    private static final Dimension PHONE = new Dimension(390, 844);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> ALL_PRODUCTS = List.of("alpine:3.20:amd64:default", "debian:12:amd64:cloud",
            "debian:12:amd64:generic", "debian:12:arm64:cloud", "ubuntu:24.04:amd64:cloud");

    /** Held so it is not collected: ChromeDriver needs no CDP bindings, so their version warning is noise. */
    private static final java.util.logging.Logger CDP_LOG = java.util.logging.Logger.getLogger("org.openqa.selenium.devtools");

    private static ChromeDriverService service;
    private static ChromeDriver driver;
    private static Path profile;
    private static Path work;
    private static TestRegistry registry;
    private static Seed seed;
    private static PublishedIndex index;

    // ---- browser and registry --------------------------------------------------------------------

    @BeforeAll
    static void startBrowserAndRegistry() throws IOException {
        boolean installed = Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
        if (!installed) {
            String why = "Chromium and ChromeDriver are needed at " + CHROMIUM + " and " + CHROMEDRIVER
                    + " (apt-get install chromium chromium-driver)";
            if ("true".equals(System.getenv("CI"))) fail(why);
            assumeTrue(false, why);
        }
        QemuImg.assumeAvailable();

        work = Files.createTempDirectory("strata-catalog-page-");
        registry = TestRegistry.start(work.resolve("registry"));
        long seeding = System.nanoTime();
        seed = Seed.publish(registry, Files.createDirectories(work.resolve("publisher")));
        index = PublishedIndex.fetch(registry);
        System.out.printf("seeded the registry with 10 qcow2 layers and 6 images, and moved their aliases, in %d ms%n",
                millisSince(seeding));

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
    }

    @AfterAll
    static void stopBrowserAndRegistry() throws IOException {
        if (driver != null) driver.quit();
        if (service != null) service.stop();
        if (registry != null) registry.close();
        if (profile != null) deleteTree(profile);
        if (work != null) deleteTree(work);
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
        openCatalog(registry.url(""));

        assertEquals(ALL_PRODUCTS, productsShown());
        assertTrue(driver.findElement(By.id("registry-meta")).getText()
                .contains("Index updated " + utcMinute(Instant.parse(index.root().path("updated").asText()))));
        WebElement debian = product("debian:12:amd64:cloud");
        assertEquals(List.of("20261122_1000", "20261101_1000"), texts(debian, "a.version-link"));
        WebElement newest = debian.findElement(By.cssSelector("tr[data-fingerprint='" + seed.debianNew + "']"));
        assertEquals("debian/12\ndebian/bookworm", newest.findElement(By.cssSelector(".aliases")).getText());
        assertEquals(seed.debianNew.substring(0, 12), newest.findElement(By.cssSelector("button.fingerprint")).getText());
        WebElement created = newest.findElement(By.cssSelector("time"));
        assertEquals(utcMinute(index.created(seed.debianNew)), created.getText(), "the publish time, in UTC");
        assertEquals(index.created(seed.debianNew), Instant.parse(created.getAttribute("datetime")));

        // What a client downloads for an image with nothing cached: its whole chain.
        long download = index.chainBytes(seed.debianNew);
        assertEquals(index.image(seed.debianNew).get("download_size").asLong(), download, "the server's download_size");
        WebElement downloadCell = newest.findElement(By.cssSelector("td[data-label='Download'] [data-bytes]"));
        assertEquals(String.valueOf(download), downloadCell.getAttribute("data-bytes"));
        assertEquals(binaryUnits(download), downloadCell.getText());
        assertEquals("64 MiB", newest.findElement(By.cssSelector("td[data-label='Virtual size']")).getText());

        assertEquals("6", stat("images").findElement(By.cssSelector(".stat-value")).getText());
        assertEquals("10", stat("layers").findElement(By.cssSelector(".stat-value")).getText(), "shared layers count once");
        assertEquals(10, index.layerCount());
        long stored = index.storedBytes();
        long saved = index.publishedBytes() - stored;
        assertTrue(saved > 0, "the seed shares layers");
        assertEquals(String.valueOf(stored), stat("stored").getAttribute("data-bytes"));
        assertEquals(binaryUnits(stored), stat("stored").findElement(By.cssSelector(".stat-value")).getText());
        assertEquals(grouped(stored) + " bytes", stat("stored").findElement(By.cssSelector(".stat-note")).getText());
        assertEquals(String.valueOf(saved), stat("saved").getAttribute("data-bytes"));
        assertEquals(binaryUnits(saved), stat("saved").findElement(By.cssSelector(".stat-value")).getText());

        screenshot("catalog-desktop");
        driver.executeCdpCommand("Emulation.setEmulatedMedia",
                Map.of("features", List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
        screenshot("catalog-desktop-dark");
        assertNoBrowserErrors();
    }

    @Test
    void search_and_filters_narrow_the_list_and_live_in_the_url() throws Exception {
        openCatalog(registry.url(""));

        search("ubuntu");
        waitForProducts(List.of("ubuntu:24.04:amd64:cloud"));
        assertTrue(driver.getCurrentUrl().endsWith("#/?q=ubuntu"), driver.getCurrentUrl());

        driver.navigate().refresh();
        waitForProducts(List.of("ubuntu:24.04:amd64:cloud"));
        assertEquals("ubuntu", driver.findElement(By.id("search")).getDomProperty("value"));

        driver.navigate().back();
        waitForProducts(ALL_PRODUCTS);
        assertEquals("", driver.findElement(By.id("search")).getDomProperty("value"));

        new Select(driver.findElement(By.id("filter-os"))).selectByValue("debian");
        waitForProducts(List.of("debian:12:amd64:cloud", "debian:12:amd64:generic", "debian:12:arm64:cloud"));
        assertEquals(List.of("", "12"), optionValues("filter-release"), "releases follow the chosen os");
        new Select(driver.findElement(By.id("filter-arch"))).selectByValue("arm64");
        waitForProducts(List.of("debian:12:arm64:cloud"));
        assertTrue(driver.getCurrentUrl().endsWith("#/?os=debian&arch=arm64"), driver.getCurrentUrl());
        driver.navigate().back();
        waitForProducts(List.of("debian:12:amd64:cloud", "debian:12:amd64:generic", "debian:12:arm64:cloud"));

        driver.get(registry.url("/#/"));
        waitForProducts(ALL_PRODUCTS);
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

    // ---- one image -----------------------------------------------------------------------------

    @Test
    void detail_draws_the_chain_base_to_top_and_what_a_client_still_downloads() throws Exception {
        openCatalog(registry.url(""));
        product("debian:12:amd64:cloud").findElement(By.linkText("20261122_1000")).click();
        WebElement detail = waitForDetail(seed.debianNew);
        assertTrue(driver.getCurrentUrl().endsWith("#/image/" + seed.debianNew), driver.getCurrentUrl());

        List<String> chain = List.of(seed.debianBase, seed.debianCloud, seed.debianNew);
        assertEquals(chain, index.chain(seed.debianNew), "the server resolved the chain from the layers' backing names");
        List<WebElement> layers = detail.findElements(By.cssSelector("ol.chain > li.layer"));
        assertEquals(chain, layers.stream().map(layer -> layer.getAttribute("data-layer")).toList(), "base first, top last");
        assertTrue(layers.get(0).getText().startsWith("1\nBASE"), layers.get(0).getText());
        assertTrue(layers.get(2).getText().startsWith("3\nTOP"), layers.get(2).getText());
        for (int position = 0; position < chain.size(); position++) {
            String size = layers.get(position).findElement(By.cssSelector(".layer-size")).getText();
            assertEquals(binaryUnits(index.layerSize(chain.get(position))), size, "layer " + (position + 1));
        }
        assertEquals(3, index.usersOf(seed.debianBase));
        assertTrue(layers.get(0).getText().contains("Also in 2 other images"), layers.get(0).getText());
        assertTrue(layers.get(1).getText().contains("Also in 1 other image: debian:12:amd64:cloud 20261101_1000"),
                layers.get(1).getText());
        assertTrue(layers.get(2).getText().contains("Only this image uses this layer"), layers.get(2).getText());

        // A client holding every layer another image uses still downloads the layers no other image has.
        long unique = index.bytesNoOtherImageHas(seed.debianNew);
        assertEquals(index.layerSize(seed.debianNew), unique, "only the top layer is this image's own");
        WebElement stillToDownload = detail.findElement(By.cssSelector("[data-stat='unique']"));
        assertEquals(String.valueOf(unique), stillToDownload.getAttribute("data-bytes"));
        assertEquals(binaryUnits(unique), stillToDownload.findElement(By.cssSelector(".stat-value")).getText());
        assertEquals(grouped(unique) + " bytes", stillToDownload.findElement(By.cssSelector(".stat-note")).getText());
        long download = index.chainBytes(seed.debianNew);
        assertEquals(String.valueOf(download), detail.findElement(By.cssSelector("[data-stat='download']")).getAttribute("data-bytes"));
        assertEquals("2 of 3 layers (" + binaryUnits(download - unique) + ") are shared with other images. "
                        + "A client that already holds them downloads only the 1 layer unique to this image.",
                detail.findElement(By.cssSelector("section[aria-labelledby='size-heading'] .explain")).getText());

        assertEquals("strata pull debian/12 --registry " + registry.url(""),
                detail.findElement(By.cssSelector("[data-command='pull'] pre")).getText());
        assertEquals("qemu-img info --backing-chain " + registry.url("/layers/" + seed.debianNew + ".qcow2"),
                detail.findElement(By.cssSelector("[data-command='qemu'] pre")).getText());
        assertEquals(List.of("boot\nuefi", "build_id\n20261122-1", "cloud_init\n22.4.2", "kernel\n6.1.0-28",
                "serial_console\nttyS0"), texts(detail, ".fact[data-kind='property']"), "properties in name order, every time");
        assertEquals(List.of("20261101_1000"), texts(detail, "section[aria-labelledby='older-heading'] a.version-link"));
        screenshot("detail-desktop");

        // An older version names its fingerprint in the pull command and points at the newest.
        detail.findElement(By.linkText("20261101_1000")).click();
        WebElement older = waitForDetail(seed.debianOld);
        assertEquals("strata pull " + seed.debianOld + " --registry " + registry.url(""),
                older.findElement(By.cssSelector("[data-command='pull'] pre")).getText());
        assertTrue(older.findElement(By.cssSelector(".notice")).getText().contains("20261122_1000"));

        driver.navigate().back();
        waitForDetail(seed.debianNew);
        driver.navigate().back();
        waitForProducts(ALL_PRODUCTS);
        assertNoBrowserErrors();
    }

    @Test
    void strings_from_publishers_render_as_text_never_as_markup() throws Exception {
        assertTrue(index.image(seed.ubuntu).get("description").asText().contains("<script>"),
                "the server stores what the publisher sent; escaping is the page's job");
        driver.get(registry.url("/#/image/" + seed.ubuntu));
        WebElement detail = waitForDetail(seed.ubuntu);

        WebElement description = detail.findElement(By.cssSelector(".description"));
        assertTrue(description.getText().contains("<script>window.__xss=1</script>"), description.getText());
        assertTrue(description.getText().contains("<img src=x onerror=window.__xss=2>"), description.getText());
        assertTrue(description.findElements(By.cssSelector("*")).isEmpty(), "the description holds no elements");
        WebElement property = detail.findElement(By.cssSelector(".fact[data-kind='property']"));
        assertEquals("notes\n<b onmouseover=window.__xss=3>bold</b>", property.getText());
        assertEquals(List.of("ubuntu/24.04", "ubuntu/noble"), texts(detail, ".detail-badges .alias"));
        assertEquals(1L, js("return document.querySelectorAll('img').length"), "only the logo is an image");
        assertEquals(0L, js("return document.querySelectorAll('body script, main i, main b').length"));
        assertEquals("undefined", js("return typeof window.__xss"));
        screenshot("detail-escaped-desktop");
        assertNoBrowserErrors();
    }

    @Test
    void copying_a_fingerprint_gives_visible_and_announced_feedback() throws Exception {
        openCatalog(registry.url(""));
        driver.executeCdpCommand("Browser.grantPermissions", Map.of("origin", registry.url(""),
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

    @Test
    void an_image_whose_lxd_items_are_ready_shows_its_lxd_fingerprint_and_launch_commands() throws Exception {
        // The seeded registry makes no LXD items: the detail says so, in the registry's words.
        driver.get(registry.url("/#/image/" + seed.debianNew));
        WebElement off = waitForDetail(seed.debianNew).findElement(By.cssSelector("[data-lxd='off']"));
        assertTrue(off.getText().startsWith("LXD items are off"), off.getText());

        // A registry with LXD items on, whose qemu-img waits until the test lets it go: "preparing" first.
        Path lxdWork = Files.createDirectories(work.resolve("lxd"));
        Path gate = lxdWork.resolve("go");
        Path qemuImg = lxdWork.resolve("gated-qemu-img");
        String realQemuImg = QemuImg.runOrFail(List.of("sh", "-c", "command -v qemu-img")).strip();
        Files.writeString(qemuImg, "#!/bin/sh\nif [ \"$1\" = convert ]; then while [ ! -e " + gate + " ]; do sleep 0.1; done; fi\nexec "
                + realQemuImg + " \"$@\"\n");
        Files.setPosixFilePermissions(qemuImg, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        io.strata.config.ServerConfig config = io.strata.config.ServerConfig.defaults(lxdWork.resolve("registry"))
                .withLxd(io.strata.config.LxdConfig.defaults().withQemuImg(qemuImg.toString()));
        try (TestRegistry lxdRegistry = TestRegistry.start(config)) {
            io.strata.testing.LayerFactory layers = new io.strata.testing.LayerFactory(Files.createDirectories(lxdWork.resolve("layers")));
            Digest base = layers.base();
            Digest top = layers.child(base);
            layers.uploadTo(lxdRegistry, base, top);
            String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261122_1000\","
                    + "\"layer\":\"" + top.hex() + "\",\"aliases\":[\"debian/12\"]}";
            HttpResponse<String> published = lxdRegistry.send(lxdRegistry.authed("/api/v1/images", lxdRegistry.publishToken)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build());
            assertEquals(201, published.statusCode(), published.body());

            driver.get(lxdRegistry.url("/#/image/" + top.hex()));
            WebElement preparing = waitForDetail(top.hex()).findElement(By.cssSelector("[data-lxd='preparing']"));
            assertTrue(ready(lxdRegistry, top) == null, "still waiting for its disk");
            assertTrue(preparing.getText().contains("preparing the flattened disk"), preparing.getText());

            Files.createFile(gate);
            String fingerprint = null;
            for (Instant deadline = Instant.now().plusSeconds(60); fingerprint == null && Instant.now().isBefore(deadline); Thread.sleep(100)) {
                fingerprint = ready(lxdRegistry, top);
            }
            assertTrue(fingerprint != null, "the LXD items became ready");
            driver.navigate().refresh();
            WebElement ready = waitForDetail(top.hex()).findElement(By.cssSelector("[data-lxd='ready']"));
            assertEquals("lxc launch strata:debian/12 --vm", ready.findElement(By.cssSelector("[data-command='lxc'] pre")).getText());
            assertEquals("incus launch strata:debian/12 --vm", ready.findElement(By.cssSelector("[data-command='incus'] pre")).getText());
            assertEquals(fingerprint, ready.findElement(By.cssSelector("[data-testid='lxd-fingerprint']")).getText());
            assertEquals("lxc launch strata:debian/12 --vm",
                    ready.findElement(By.cssSelector("[data-command='lxc'] button.copy")).getAttribute("data-copy"));
            screenshot("detail-lxd-ready");
            assertNoBrowserErrors();
        }
    }

    /** The image's LXD fingerprint once its items are ready, else null. */
    private static String ready(TestRegistry registry, Digest image) throws IOException {
        JsonNode lxd = JSON.readTree(registry.send(registry.request("/index.json").GET().build()).body())
                .path("images").path(image.hex()).path("lxd");
        return lxd.path("state").asText().equals("ready") ? lxd.path("fingerprint").asText() : null;
    }

    // ---- alias history -------------------------------------------------------------------------

    @Test
    void detail_lists_each_alias_of_the_product_with_its_moves_newest_first() throws Exception {
        openCatalog(registry.url(""));
        assertEquals(List.of("/index.json"), fetchedPaths(), "the list is one request; histories wait for a detail view");
        product("debian:12:amd64:cloud").findElement(By.linkText("20261122_1000")).click();
        WebElement detail = waitForDetail(seed.debianNew);
        WebElement section = detail.findElement(By.cssSelector("section.alias-history"));
        assertEquals("Alias history newest first", section.findElement(By.tagName("h2")).getText());
        assertEquals(List.of("debian/12", "debian/bookworm"), texts(section, ".history h3 .alias"), "the product's aliases, by name");
        waitForHistory("debian/12", "ready");
        waitForHistory("debian/bookworm", "ready");
        assertEquals(List.of("/api/v1/alias-history/debian/12", "/api/v1/alias-history/debian/bookworm", "/index.json"),
                fetchedPaths().stream().sorted().toList());

        // What the server recorded, read here with the JDK client, is what the page must show, newest first.
        List<HistoryRow> twelve = expectedHistory("debian/12", seed.debianNew);
        assertEquals(13, twelve.size(), "published, five round trips to generic, the mistaken serial and its removal");
        assertEquals(new HistoryRow(twelve.get(0).at(), "20261122_1000", "this version", "deleted debian:12:amd64:cloud 20261201_0000"),
                twelve.get(0));
        assertEquals(new HistoryRow(twelve.get(1).at(), seed.debianCloud.substring(0, 12), "unpublished",
                "published debian:12:amd64:cloud 20261201_0000"), twelve.get(1));
        assertEquals(new HistoryRow(twelve.get(3).at(), "debian:12:amd64:generic 20261122_1000", "", "set to debian:12:amd64:generic"),
                twelve.get(3));
        assertEquals("published debian:12:amd64:cloud 20261122_1000", twelve.get(12).reason(), "the oldest change comes last");
        assertEquals(twelve.subList(0, 10), historyShown("debian/12"), "the latest ten");
        assertEquals("13 changes", section.findElement(By.cssSelector(".history[data-alias='debian/12'] .history-count")).getText());

        List<HistoryRow> bookworm = expectedHistory("debian/bookworm", seed.debianNew);
        assertEquals(List.of("deleted debian:12:amd64:cloud 20261201_0000", "published debian:12:amd64:cloud 20261201_0000",
                "set to debian:12:amd64:cloud", "deleted", "published debian:12:amd64:cloud 20261122_1000"),
                bookworm.stream().map(HistoryRow::reason).toList());
        assertEquals("nothing", bookworm.get(3).version(), "a deleted alias resolves to nothing");
        assertEquals(bookworm, historyShown("debian/bookworm"));
        assertTrue(section.findElements(By.cssSelector(".history[data-alias='debian/bookworm'] button")).isEmpty(),
                "five changes need no \"show all\"");
        screenshot("detail-history-desktop");
        driver.executeCdpCommand("Emulation.setEmulatedMedia",
                Map.of("features", List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
        screenshot("detail-history-desktop-dark");
        driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features", List.of()));

        // "Show all" from the keyboard, and back; focus stays on the button.
        WebElement showAll = section.findElement(By.cssSelector(".history[data-alias='debian/12'] .history-actions button"));
        assertEquals("Show all 13 changes", showAll.getText());
        showAll.sendKeys(Keys.ENTER);
        wait.until(d -> historyShown("debian/12").size() == 13);
        assertEquals(twelve, historyShown("debian/12"));
        assertEquals("true", showAll.getAttribute("aria-expanded"));
        assertEquals("Show the latest 10", driver.switchTo().activeElement().getText());
        driver.switchTo().activeElement().sendKeys(Keys.ENTER);
        wait.until(d -> historyShown("debian/12").size() == 10);

        // A version in the timeline opens that image; its own history comes from what was already fetched.
        section.findElement(By.linkText("debian:12:amd64:generic 20261122_1000")).click();
        waitForDetail(seed.generic);
        waitForHistory("debian/12/generic", "ready");
        driver.navigate().back();
        waitForDetail(seed.debianNew);
        waitForHistory("debian/12", "ready");
        assertEquals(twelve.subList(0, 10), historyShown("debian/12"));
        assertEquals(4, fetchedPaths().size(), "each alias's history was fetched once: " + fetchedPaths());
        assertNoBrowserErrors();
    }

    @Test
    void a_failing_alias_history_is_reported_in_its_section_while_the_rest_of_the_image_shows() throws Exception {
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            proxy.failOnce("/api/v1/alias-history/debian/12", 503);
            driver.get(proxy.url("/#/image/" + seed.debianNew));
            WebElement detail = waitForDetail(seed.debianNew);
            WebElement failed = waitForHistory("debian/12", "error");
            assertEquals("Could not load the history of debian/12: HTTP 503.",
                    failed.findElement(By.cssSelector(".history-message")).getText());
            waitForHistory("debian/bookworm", "ready");
            assertEquals(expectedHistory("debian/bookworm", seed.debianNew), historyShown("debian/bookworm"));
            assertEquals(List.of(seed.debianBase, seed.debianCloud, seed.debianNew),
                    detail.findElements(By.cssSelector("ol.chain > li.layer")).stream().map(l -> l.getAttribute("data-layer")).toList());
            assertEquals("strata pull debian/12 --registry " + proxy.url(""),
                    detail.findElement(By.cssSelector("[data-command='pull'] pre")).getText());
            assertEquals(List.of("20261101_1000"), texts(detail, "section[aria-labelledby='older-heading'] a.version-link"));
            screenshot("detail-history-error-desktop");
            assertOnlyRequestsFailed("/api/v1/alias-history/debian/12");

            failed.findElement(By.xpath(".//button[.='Retry']")).click();
            waitForHistory("debian/12", "ready");
            assertEquals(expectedHistory("debian/12", seed.debianNew).subList(0, 10), historyShown("debian/12"));
            assertNoBrowserErrors();
        }
    }

    // ---- keyboard ------------------------------------------------------------------------------

    @Test
    void slash_focuses_search_enter_opens_an_image_and_escape_closes_it() throws Exception {
        openCatalog(registry.url(""));
        new Actions(driver).sendKeys("/").perform();
        assertEquals("search", driver.switchTo().activeElement().getAttribute("id"));
        assertEquals("", driver.findElement(By.id("search")).getDomProperty("value"), "the slash is not typed");

        WebElement link = product("ubuntu:24.04:amd64:cloud").findElement(By.cssSelector("a.version-link"));
        link.sendKeys(Keys.ENTER);
        waitForDetail(seed.ubuntu);
        assertEquals("h1", driver.switchTo().activeElement().getTagName(), "focus moves to the image's heading");

        new Actions(driver).sendKeys(Keys.ESCAPE).perform();
        waitForProducts(ALL_PRODUCTS);
        assertEquals(seed.ubuntu, driver.switchTo().activeElement().getAttribute("data-fingerprint"),
                "focus returns to the link that opened the image");

        driver.switchTo().activeElement().sendKeys(Keys.ENTER);
        waitForDetail(seed.ubuntu);
        new Actions(driver).sendKeys("/").perform();
        waitForProducts(ALL_PRODUCTS);
        wait.until(d -> "search".equals(d.switchTo().activeElement().getAttribute("id")));
        assertNoBrowserErrors();
    }

    // ---- empty and failing registries ------------------------------------------------------------

    @Test
    void an_empty_registry_says_no_images_published_yet() throws Exception {
        try (TestRegistry empty = TestRegistry.start(Files.createTempDirectory(work, "empty-"))) {
            driver.get(empty.url("/"));
            WebElement status = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='empty']")));
            assertTrue(status.getText().startsWith("No images published yet"), status.getText());
            assertTrue(status.getText().contains("strata push"), "says how to publish: " + status.getText());
            assertFalse(driver.findElement(By.id("list-view")).isDisplayed());
            // A catalog that never changed has the epoch as its "updated": not a date to show.
            String meta = driver.findElement(By.id("registry-meta")).getText();
            assertFalse(meta.contains("1970"), meta);
            screenshot("empty-desktop");
            assertNoBrowserErrors();
        }
    }

    @Test
    void a_failing_index_is_reported_and_retry_recovers() throws Exception {
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            proxy.failIndexOnce(500);
            driver.get(proxy.url("/"));
            WebElement error = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='error']")));
            assertTrue(error.getText().startsWith("The registry could not serve its catalog"), error.getText());
            assertTrue(error.getText().contains("HTTP 500"), error.getText());
            assertEquals("Retry", driver.switchTo().activeElement().getText(), "focus lands on Retry");
            screenshot("error-desktop");
            assertOnlyRequestsFailed("/index.json");

            error.findElement(By.xpath(".//button[.='Retry']")).click();
            waitForProducts(ALL_PRODUCTS);
            assertNoBrowserErrors();
        }
    }

    @Test
    void a_stopped_registry_is_reported_as_unreachable() throws Exception {
        TestRegistry stopping = TestRegistry.start(Files.createTempDirectory(work, "stopped-"));
        String indexUrl = stopping.url("/index.json");
        try (stopping) {
            driver.get(stopping.url("/"));
            wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("[data-state='empty']")));
        }
        driver.findElement(By.xpath("//button[.='Check again']")).click();
        wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("status-view"), "Cannot reach the registry"));
        assertTrue(driver.findElement(By.id("status-view")).getText().contains(indexUrl),
                "names what it asked for: " + driver.findElement(By.id("status-view")).getText());
        assertTrue(driver.findElement(By.id("status-view")).getText().contains("Retry"));
        screenshot("unreachable-desktop");
        assertOnlyRequestsFailed("/index.json");
    }

    // ---- phone width -----------------------------------------------------------------------------

    @Test
    void phone_width_fits_without_sideways_scrolling() throws Exception {
        driver.manage().window().setSize(PHONE);
        openCatalog(registry.url(""));
        assertFitsWidth();
        screenshot("catalog-phone");

        driver.get(registry.url("/#/image/" + seed.debianNew));
        waitForDetail(seed.debianNew);
        waitForHistory("debian/12", "ready");
        waitForHistory("debian/bookworm", "ready");
        assertFitsWidth();
        screenshot("detail-phone");
        assertNoBrowserErrors();
    }

    // ---- scale ---------------------------------------------------------------------------------

    @Test
    void ten_thousand_images_render_and_search_without_freezing() throws Exception {
        // 10,000 real publishes would take minutes, so only the index is synthetic: the proxy answers
        // GET /index.json with it, while the page, its assets and every other request still come
        // from the real server behind the proxy.
        try (FaultProxy proxy = FaultProxy.start(registry.url(""))) {
            proxy.substituteIndex(SyntheticIndex.of(10_000));
            long start = System.nanoTime();
            driver.get(proxy.url("/"));
            wait.until(d -> d.findElements(By.cssSelector("#results article.product")).size() == 20);
            long firstView = millisSince(start);
            assertTrue(driver.findElement(By.id("result-summary")).getText().startsWith("10,000 images in 200 products"),
                    driver.findElement(By.id("result-summary")).getText());
            long rows = (Long) js("return document.querySelectorAll('tr[data-fingerprint]').length");
            assertTrue(rows <= 60, "only the visible page is in the DOM, got " + rows + " rows");
            WebElement firstRow = driver.findElement(By.cssSelector("#results tr[data-fingerprint]"));
            String serial = firstRow.findElement(By.cssSelector("a.version-link")).getText();
            assertEquals(LocalDateTime.parse(serial, DateTimeFormatter.ofPattern("yyyyMMdd_HHmm")).format(UTC_MINUTE),
                    firstRow.findElement(By.cssSelector("time")).getText(), "without created, the date comes from the serial");

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
            // The synthetic aliases are unknown to the real server behind the proxy: 404 ALIAS_UNKNOWN.
            WebElement noHistory = waitForHistory("fedora/3/arm64/cloud", "unknown");
            assertEquals("The registry has no history recorded for this alias.", noHistory.findElement(By.cssSelector(".history-status")).getText());
            assertOnlyRequestsFailed("/api/v1/alias-history/fedora/3/arm64/cloud");

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

    /** Read in one script call: element by element, a re-render between two reads made stale references. */
    @SuppressWarnings("unchecked")
    private List<String> productsShown() {
        return (List<String>) js("return [...document.querySelectorAll('#results article.product')].map(card => card.dataset.product)");
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

    /** The failed request itself is logged by Chrome; nothing else may be. */
    private static void assertOnlyRequestsFailed(String path) {
        List<LogEntry> errors = browserErrors();
        assertFalse(errors.isEmpty(), "Chrome logs the failed request for " + path);
        assertTrue(errors.stream().allMatch(entry -> entry.getMessage().contains(path)), "console errors: " + errors);
    }

    /** The paths this document has fetched with fetch(), in the order it asked (the page's own files not counted). */
    @SuppressWarnings("unchecked")
    private static List<String> fetchedPaths() {
        return (List<String>) js("return performance.getEntriesByType('resource')"
                + ".filter(entry => entry.initiatorType === 'fetch').map(entry => new URL(entry.name).pathname)");
    }

    private WebElement waitForHistory(String alias, String state) {
        return wait.until(ExpectedConditions.visibilityOfElementLocated(
                By.cssSelector("#detail-view .history[data-alias='" + alias + "'][data-state='" + state + "']")));
    }

    /** The timeline of {@code alias} as shown, one row per change, read in one script call. */
    @SuppressWarnings("unchecked")
    private static List<HistoryRow> historyShown(String alias) {
        List<List<String>> rows = (List<List<String>>) ((JavascriptExecutor) driver).executeScript(
                "return [...document.querySelectorAll(`#detail-view .history[data-alias='${arguments[0]}'] li.history-entry`)]"
                        + ".map(li => [li.querySelector('time').getAttribute('datetime'), li.querySelector('time').textContent,"
                        + " li.querySelector('.history-version').firstElementChild.textContent,"
                        + " [...li.querySelectorAll('.history-version .badge')].map(badge => badge.textContent).join(' '),"
                        + " li.querySelector('.history-reason').textContent])", alias);
        return rows.stream().map(row -> {
            Instant at = Instant.parse(row.get(0));
            assertEquals(utcMinute(at), row.get(1), "a change's time, in UTC");
            return new HistoryRow(at, row.get(2), row.get(3), row.get(4));
        }).toList();
    }

    /**
     * What the page must show for {@code alias} in the detail view of {@code viewing}, worked out from
     * {@code GET /api/v1/alias-history/<alias>} and {@code /index.json} alone: newest first; a version of
     * the viewed product by its serial, one of another product with the product in front, an image
     * the index no longer lists by its short fingerprint, marked unpublished, and no image as "nothing".
     */
    private static List<HistoryRow> expectedHistory(String alias, String viewing) throws IOException {
        HttpResponse<String> response = registry.send(registry.request("/api/v1/alias-history/" + alias).GET().build());
        assertEquals(200, response.statusCode(), response.body());
        JsonNode history = JSON.readTree(response.body()).path("history");
        String product = index.image(viewing).path("product").asText();
        List<HistoryRow> rows = new ArrayList<>();
        for (JsonNode change : history) {
            String fingerprint = change.path("fingerprint").isTextual() ? change.path("fingerprint").asText() : null;
            JsonNode image = fingerprint == null ? null : index.root().path("images").path(fingerprint);
            String version;
            String mark = "";
            if (fingerprint == null) {
                version = "nothing";
            } else if (image.isObject()) {
                version = image.path("product").asText().equals(product) ? image.path("version").asText()
                        : image.path("product").asText() + " " + image.path("version").asText();
                if (fingerprint.equals(viewing)) mark = "this version";
            } else {
                version = fingerprint.substring(0, 12);
                mark = "unpublished";
            }
            rows.add(0, new HistoryRow(Instant.parse(change.path("at").asText()), version, mark, change.path("reason").asText()));
        }
        return rows;
    }

    /** One change of an alias as a reader sees it: when, which version (and its mark), why. */
    record HistoryRow(Instant at, String version, String mark, String reason) {}

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

    // ---- expected figures, written out independently of the page's script ------------------------

    private static final DateTimeFormatter UTC_MINUTE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'", Locale.ROOT);
    private static final List<String> UNITS = List.of("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB");

    private static String utcMinute(Instant instant) {
        return UTC_MINUTE.format(instant.atOffset(ZoneOffset.UTC));
    }

    /** 12928590 -> "12,928,590". */
    private static String grouped(long value) {
        return String.format(Locale.ROOT, "%,d", value);
    }

    /**
     * How the page shortens a byte count: binary units, at most three significant figures, trailing
     * zeros dropped, and a value that would round to 1024 of a unit shown in the next one
     * (458752 -> "448 KiB", 1245184 -> "1.19 MiB", 64 MiB -> "64 MiB").
     */
    private static String binaryUnits(long bytes) {
        if (bytes < 1024) return bytes + " B";
        BigDecimal value = BigDecimal.valueOf(bytes);
        BigDecimal kibi = BigDecimal.valueOf(1024);
        int unit = 0;
        while (value.compareTo(new BigDecimal("1023.5")) >= 0 && unit < UNITS.size() - 1) {
            value = value.divide(kibi);
            unit++;
        }
        int digits = value.compareTo(new BigDecimal("9.995")) < 0 ? 2 : value.compareTo(new BigDecimal("99.95")) < 0 ? 1 : 0;
        String figure = value.setScale(digits, RoundingMode.HALF_UP).toPlainString();
        if (digits > 0) figure = figure.replaceAll("\\.?0+$", "");
        return figure + " " + UNITS.get(unit);
    }

    // ---- the seed: a publisher's work, through the public API ----------------------------------------

    /**
     * Ten real qcow2 layers (64 MiB virtual, a little data each) and six images sharing them:
     * <pre>
     * debian amd64 base ─┬─ cloud-init ─┬─ 20261101 top   debian:12:amd64:cloud 20261101_1000
     *                    │              └─ 20261122 top   debian:12:amd64:cloud 20261122_1000  (debian/12, debian/bookworm)
     *                    └─ generic top                   debian:12:amd64:generic 20261122_1000
     * debian arm64 base ─── cloud top                     debian:12:arm64:cloud 20261122_1000
     * ubuntu base ───────── cloud top                     ubuntu:24.04:amd64:cloud 20261120_0800  (markup in its strings)
     * alpine base                                         alpine:3.20:amd64:default 20261118_0000  (a one-layer chain)
     * </pre>
     * Then the debian aliases move about as a publisher's would, so that their history has
     * something to show and is longer than the ten changes the page lists at first: debian/12 goes
     * over to the generic product and back five times; debian/bookworm is deleted and set again;
     * a serial 20261201_0000 published by mistake on the cloud-init layer moves both, and
     * unpublishing it moves them back. Every image above stays as drawn.
     */
    record Seed(String debianBase, String debianCloud, String debianOld, String debianNew, String generic, String alpine,
                String ubuntu) {

        static Seed publish(TestRegistry registry, Path dir) throws IOException {
            Publisher publisher = new Publisher(registry, dir);
            String debianBase = publisher.layer(null, 1, 1024);
            String debianCloud = publisher.layer(debianBase, 2, 256);
            String debianOld = publisher.layer(debianCloud, 3, 64);
            String debianNew = publisher.layer(debianCloud, 4, 192);
            String generic = publisher.layer(debianBase, 5, 128);
            String armBase = publisher.layer(null, 6, 960);
            String armTop = publisher.layer(armBase, 7, 128);
            String ubuntuBase = publisher.layer(null, 8, 1536);
            String ubuntu = publisher.layer(ubuntuBase, 9, 320);
            String alpine = publisher.layer(null, 10, 384);

            String bookworm = "Debian 12 (bookworm)";
            publisher.image("debian", "12", "amd64", "cloud", "20261101_1000", debianOld, List.of(), bookworm,
                    "Debian 12 cloud image with cloud-init.", Map.of());
            publisher.image("debian", "12", "amd64", "cloud", "20261122_1000", debianNew, List.of("debian/12", "debian/bookworm"),
                    bookworm, "Debian 12 cloud image with cloud-init.", Map.of("kernel", "6.1.0-28", "boot", "uefi",
                            "serial_console", "ttyS0", "cloud_init", "22.4.2", "build_id", "20261122-1"));
            publisher.image("debian", "12", "amd64", "generic", "20261122_1000", generic, List.of("debian/12/generic"),
                    bookworm, "Generic Debian 12 for any hypervisor.", Map.of());
            publisher.image("debian", "12", "arm64", "cloud", "20261122_1000", armTop, List.of("debian/12/arm64"),
                    bookworm, "", Map.of());
            publisher.image("ubuntu", "24.04", "amd64", "cloud", "20261120_0800", ubuntu, List.of("ubuntu/24.04", "ubuntu/noble"),
                    "Ubuntu 24.04 LTS (Noble Numbat)",
                    "Built by <script>window.__xss=1</script> and <img src=x onerror=window.__xss=2>.\nSecond line.",
                    Map.of("notes", "<b onmouseover=window.__xss=3>bold</b>"));
            publisher.image("alpine", "3.20", "amd64", "default", "20261118_0000", alpine, List.of("alpine/3.20"),
                    "Alpine 3.20", "", Map.of());

            for (int round = 0; round < 5; round++) {
                publisher.moveAlias("debian/12", "debian:12:amd64:generic");
                publisher.moveAlias("debian/12", "debian:12:amd64:cloud");
            }
            publisher.deleteAlias("debian/bookworm");
            publisher.moveAlias("debian/bookworm", "debian:12:amd64:cloud");
            publisher.image("debian", "12", "amd64", "cloud", "20261201_0000", debianCloud, List.of(), bookworm,
                    "Published from the wrong layer.", Map.of());
            publisher.unpublish(debianCloud);
            return new Seed(debianBase, debianCloud, debianOld, debianNew, generic, alpine, ubuntu);
        }
    }

    /** Builds layers with qemu-img in one directory, as {@code <sha256>.qcow2}, and publishes them over HTTP. */
    record Publisher(TestRegistry registry, Path dir) {

        /**
         * Makes a layer with {@code kib} KiB of {@code pattern} written at {@code pattern} MiB (so no two
         * layers have the same bytes), backed by {@code parent} under its canonical name, and uploads it.
         */
        String layer(String parent, int pattern, int kib) throws IOException {
            Path file = dir.resolve("new.qcow2");
            if (parent == null) QemuImg.create(file, "64M");
            else QemuImg.createChild(file, Path.of(parent + ".qcow2")); // resolved beside the child
            QemuImg.writePattern(file, (long) pattern << 20, kib << 10, pattern);
            byte[] bytes = Qcow2Fixtures.read(file);
            Digest digest = TestRegistry.sha256(bytes);
            Files.move(file, dir.resolve(digest.fileName()));
            HttpResponse<String> stored = registry.putLayer(bytes);
            assertEquals(201, stored.statusCode(), "PUT /api/v1/layers/" + digest.hex() + ": " + stored.body());
            return digest.hex();
        }

        void image(String os, String release, String arch, String variant, String version, String top, List<String> aliases,
                   String releaseTitle, String description, Map<String, String> properties) {
            ObjectNode body = JSON.createObjectNode().put("os", os).put("release", release).put("arch", arch)
                    .put("variant", variant).put("version", version).put("layer", top);
            aliases.forEach(body.putArray("aliases")::add);
            body.put("release_title", releaseTitle).put("description", description);
            properties.forEach(body.putObject("properties")::put);
            HttpResponse<String> published = registry.send(registry.authed("/api/v1/images", registry.publishToken)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build());
            assertEquals(201, published.statusCode(), "POST /api/v1/images " + body + ": " + published.body());
        }

        void moveAlias(String alias, String product) {
            String body = JSON.createObjectNode().put("product", product).toString();
            HttpResponse<String> moved = registry.send(registry.authed("/api/v1/aliases/" + alias, registry.publishToken)
                    .header("Content-Type", "application/json").PUT(HttpRequest.BodyPublishers.ofString(body)).build());
            assertEquals(200, moved.statusCode(), "PUT /api/v1/aliases/" + alias + " " + body + ": " + moved.body());
        }

        void deleteAlias(String alias) {
            HttpResponse<String> deleted = registry.send(registry.authed("/api/v1/aliases/" + alias, registry.publishToken)
                    .DELETE().build());
            assertEquals(204, deleted.statusCode(), "DELETE /api/v1/aliases/" + alias + ": " + deleted.body());
        }

        void unpublish(String fingerprint) {
            HttpResponse<String> deleted = registry.send(registry.authed("/api/v1/images/" + fingerprint, registry.publishToken)
                    .DELETE().build());
            assertEquals(204, deleted.statusCode(), "DELETE /api/v1/images/" + fingerprint + ": " + deleted.body());
        }
    }

    /** The real server's {@code /index.json}, read with the JDK client: the source of every expected figure. */
    record PublishedIndex(JsonNode root) {

        static PublishedIndex fetch(TestRegistry registry) throws IOException {
            HttpResponse<String> response = registry.send(registry.request("/index.json").GET().build());
            assertEquals(200, response.statusCode(), response.body());
            return new PublishedIndex(JSON.readTree(response.body()));
        }

        JsonNode image(String fingerprint) {
            JsonNode image = root.path("images").path(fingerprint);
            assertTrue(image.isObject(), "no image " + fingerprint + " in /index.json");
            return image;
        }

        List<String> chain(String fingerprint) {
            return StreamSupport.stream(image(fingerprint).path("chain").spliterator(), false).map(JsonNode::asText).toList();
        }

        Instant created(String fingerprint) {
            return Instant.parse(image(fingerprint).path("created").asText());
        }

        long layerSize(String digest) {
            JsonNode layer = root.path("layers").path(digest);
            assertTrue(layer.isObject(), "no layer " + digest + " in /index.json");
            return layer.path("size").asLong();
        }

        int layerCount() {
            return root.path("layers").size();
        }

        /** Images whose chain holds {@code digest}. */
        int usersOf(String digest) {
            int users = 0;
            for (JsonNode image : root.path("images")) {
                for (JsonNode layer : image.path("chain")) {
                    if (layer.asText().equals(digest)) {
                        users++;
                        break;
                    }
                }
            }
            return users;
        }

        /** The whole chain: what a client with an empty cache downloads. */
        long chainBytes(String fingerprint) {
            return chain(fingerprint).stream().mapToLong(this::layerSize).sum();
        }

        /** The layers of the chain no other image uses: what a client holding every shared layer still downloads. */
        long bytesNoOtherImageHas(String fingerprint) {
            return chain(fingerprint).stream().filter(digest -> usersOf(digest) == 1).mapToLong(this::layerSize).sum();
        }

        /** Every layer once. */
        long storedBytes() {
            long bytes = 0;
            for (JsonNode layer : root.path("layers")) bytes += layer.path("size").asLong();
            return bytes;
        }

        /** Every image's whole chain, shared layers counted once per image. */
        long publishedBytes() {
            long bytes = 0;
            for (var images = root.path("images").fieldNames(); images.hasNext(); ) bytes += chainBytes(images.next());
            return bytes;
        }
    }

    /**
     * A synthetic {@code /index.json} in the server's format with made-up digests, for the scale
     * test only: {@code count} images, 10 os x 5 releases x 2 arches x 2 variants = 200 products, each
     * with count/200 versions whose chains (depth 3 to 8) share the product's base, variant and middle
     * layers. Without {@code created}, as an index from an older server would be.
     */
    static final class SyntheticIndex {
        private final Map<String, ObjectNode> layers = new LinkedHashMap<>();
        private final ObjectNode root = JSON.createObjectNode();

        private SyntheticIndex() {
            root.put("format", "strata-index:1.0").put("updated", "2026-11-22T10:05:00Z");
            root.putObject("aliases");
            root.putObject("images");
            root.putObject("layers");
        }

        static String of(int count) {
            SyntheticIndex index = new SyntheticIndex();
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
                        String base = index.layer(id + "-base", 200_000_000L + release * 1_000_000L, null);
                        for (String variant : variants) {
                            String variantLayer = index.layer(id + "-" + variant, 30_000_000, base);
                            List<String> middles = new ArrayList<>();
                            String parent = variantLayer;
                            for (int m = 0; m < 5; m++) {
                                parent = index.layer(id + "-" + variant + "-mid" + m, 5_000_000 + m, parent);
                                middles.add(parent);
                            }
                            for (int v = 0; v < versions; v++) {
                                List<String> chain = new ArrayList<>(List.of(base, variantLayer));
                                chain.addAll(middles.subList(0, v % 6));
                                chain.add(index.layer(id + "-" + variant + "-v" + v, 1_000_000 + v, chain.get(chain.size() - 1)));
                                List<String> aliases = v == versions - 1
                                        ? List.of(os + "/" + release + "/" + arch + "/" + variant) : List.of();
                                index.image(os, String.valueOf(release), arch, variant,
                                        epoch.plusDays(v).plusHours(release).format(serial), chain, aliases,
                                        os + " " + release, "Synthetic image " + v);
                            }
                        }
                    }
                }
            }
            return index.root.toString();
        }

        /** Adds a layer named by a made-up but well-formed sha256 of {@code name}; returns the digest. */
        private String layer(String name, long size, String parent) {
            String digest = sha256(name);
            ObjectNode layer = ((ObjectNode) root.get("layers")).putObject(digest);
            layer.put("size", size).put("virtual_size", 4L << 30).put("parent", parent).put("path", "layers/" + digest + ".qcow2");
            layers.put(digest, layer);
            return digest;
        }

        private void image(String os, String release, String arch, String variant, String version, List<String> chain,
                           List<String> aliases, String releaseTitle, String description) {
            String fingerprint = chain.get(chain.size() - 1);
            ObjectNode image = ((ObjectNode) root.get("images")).putObject(fingerprint);
            image.put("product", String.join(":", os, release, arch, variant)).put("version", version)
                    .put("os", os).put("release", release).put("arch", arch).put("variant", variant)
                    .put("release_title", releaseTitle).put("description", description);
            ArrayNode aliasNames = image.putArray("aliases");
            aliases.forEach(alias -> {
                aliasNames.add(alias);
                ((ObjectNode) root.get("aliases")).put(alias, fingerprint);
            });
            chain.forEach(image.putArray("chain")::add);
            image.put("download_size", chain.stream().mapToLong(digest -> layers.get(digest).get("size").asLong()).sum());
            image.put("virtual_size", layers.get(fingerprint).get("virtual_size").asLong());
            image.putObject("properties");
        }

        private static String sha256(String text) {
            try {
                return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
