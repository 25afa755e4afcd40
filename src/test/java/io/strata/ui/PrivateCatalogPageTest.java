package io.strata.ui;

import io.strata.config.AccessConfig;
import io.strata.config.ServerConfig;
import io.strata.layer.Digest;
import io.strata.testing.LayerFactory;
import io.strata.testing.QemuImg;
import io.strata.testing.TestRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.OutputStream;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The catalog page of a {@code serve --private} registry asks for a token and keeps it only for the tab. */
class PrivateCatalogPageTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");

    @TempDir Path dir;

    @Test
    void the_page_asks_for_a_token_refuses_a_wrong_one_and_shows_the_catalog_with_a_right_one() throws Exception {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            String why = "Chromium and ChromeDriver are needed (apt-get install chromium chromium-driver)";
            if ("true".equals(System.getenv("CI"))) fail(why);
            assumeTrue(false, why);
        }
        QemuImg.assumeAvailable();
        LayerFactory layers = new LayerFactory(dir);
        try (TestRegistry registry = TestRegistry.start(ServerConfig.defaults(dir.resolve("data"))
                .withAccess(AccessConfig.defaults().withPrivateMode(true)))) {
            Digest layer = layers.base();
            layers.uploadTo(registry, layer);
            String body = "{\"os\":\"debian\",\"release\":\"12\",\"arch\":\"amd64\",\"variant\":\"cloud\",\"version\":\"20261201_1000\","
                    + "\"layer\":\"" + layer.hex() + "\"}";
            assertEquals(201, registry.send(registry.authed("/api/v1/images", registry.publishToken)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build()).statusCode());
            String token = registry.token("read");

            System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
            ChromeOptions options = new ChromeOptions();
            options.setBinary(CHROMIUM.toFile());
            options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--user-data-dir=" + Files.createDirectories(dir.resolve("profile")));
            ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                    .usingAnyFreePort().withLogOutput(OutputStream.nullOutputStream()).build();
            ChromeDriver driver = new ChromeDriver(service, options);
            try {
                WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(20));
                driver.get(registry.url("/"));
                wait.until(ExpectedConditions.visibilityOfElementLocated(By.id("token-input")));
                assertTrue(driver.findElement(By.id("status-view")).getText().contains("This registry is private"));

                driver.findElement(By.id("token-input")).sendKeys("strata_pat_wrong");
                driver.findElement(By.cssSelector("#token-form button[type=submit]")).click();
                wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("status-view"), "The token was refused"));

                driver.findElement(By.id("token-input")).sendKeys(token);
                driver.findElement(By.cssSelector("#token-form button[type=submit]")).click();
                wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("results"), "debian"));

                assertEquals(token, driver.executeScript("return sessionStorage.getItem('strata.token')"));
                assertEquals(0L, driver.executeScript("return localStorage.length"));
                assertEquals("", driver.executeScript("return document.cookie"));
                driver.navigate().refresh();
                wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("results"), "debian"));
            } finally {
                driver.quit();
                service.stop();
            }
        }
    }
}
