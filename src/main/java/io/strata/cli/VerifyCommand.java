package io.strata.cli;

import io.strata.StrataServer;
import io.strata.catalog.CatalogService;
import io.strata.catalog.Image;
import io.strata.client.Console;
import io.strata.client.Human;
import io.strata.client.Progress;
import io.strata.config.ServerConfig;
import io.strata.http.Services;
import io.strata.layer.LayerDao;
import io.strata.layer.LayerRecord;
import io.strata.layer.Verifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;

/** {@code strata verify}: checks every stored layer and image chain of a data directory. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check a registry's data directory: every layer file exists, has its recorded size, hashes to its name "
                + "and passes the format inspector; every image's chain is complete. Read-only: safe while the server runs.",
                "Exit status: 0 all good, 1 problems found (listed one per line)."})
final class VerifyCommand implements Callable<Integer> {
    @Mixin DataDirOption data;
    @Mixin DbOption db;

    @Mixin StoreOptions store;

    @Option(names = "--quick", description = "Check presence, sizes and headers only; do not hash every byte.")
    boolean quick;

    @Override
    public Integer call() throws Exception {
        Services services = StrataServer.openServices(ServerConfig.defaults(data.dataDir).withStore(store.config()).withDb(db.config()));
        LayerDao layers = services.database().dao(LayerDao.class);
        long total = quick ? 0 : layers.all().stream().mapToLong(LayerRecord::size).sum();
        Verifier.Report report;
        try (Progress progress = Console.on(System.err, quick).progress("verifying", total)) {
            long[] reported = {0};
            report = new Verifier(services.layers().store(), layers, services.lxd().recordedBlobs()).run(quick, done -> {
                progress.advance(done - reported[0]);
                reported[0] = done;
            });
        }
        for (Verifier.Problem problem : report.problems()) System.out.println("layer " + problem.layer() + ": " + problem.what());
        CatalogService.Snapshot snapshot = services.catalog().snapshot();
        for (Image image : snapshot.hidden()) {
            System.out.println("image " + image.fingerprint() + " (" + image.product().id() + " " + image.version()
                    + ") is hidden: a layer of its chain is missing");
        }
        boolean ok = report.ok() && snapshot.hidden().isEmpty();
        System.err.printf("%s: %d layer(s), %s hashed, %d image(s): %s%n", data.dataDir, report.layersChecked(),
                quick ? "nothing" : Human.bytes(report.bytesChecked()), snapshot.images().size() + snapshot.hidden().size(),
                ok ? "all good" : (report.problems().size() + snapshot.hidden().size()) + " problem(s)");
        return ok ? 0 : 1;
    }
}
