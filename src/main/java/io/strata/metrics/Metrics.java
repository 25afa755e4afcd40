package io.strata.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.strata.catalog.CatalogService;
import io.strata.db.Database;
import io.strata.layer.LayerDao;
import io.strata.upload.UploadDao;

import java.lang.management.ManagementFactory;
import java.util.function.ToDoubleFunction;

/**
 * The server's meters, in one Micrometer registry rendered as Prometheus text at {@code /metrics}
 * (DESIGN §12): the requests ({@link RequestMetrics}), what the registry holds (layers, images,
 * the catalog generation, open upload sessions), and Micrometer's JVM and process binders.
 *
 * <p>The registry gauges are read when scraped: layers and uploads from the database (on a shared
 * PostgreSQL, what all replicas hold), images and the generation from this replica's catalog.
 */
public final class Metrics implements AutoCloseable {
    /** The Prometheus text exposition format, version 0.0.4. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gc = new JvmGcMetrics();

    public Metrics(Database database, CatalogService catalog) {
        // Two of Micrometer's process meters fail promtool's naming rules ("_count" on a gauge, a unit abbreviated as "ns"):
        // the CPU count gets a plain name, and the process CPU time is counted in seconds, under the name Prometheus' own
        // clients give it.
        registry.config().meterFilter(MeterFilter.deny(id -> id.getName().equals("process.cpu.time")));
        registry.config().meterFilter(new MeterFilter() {
            @Override
            public Meter.Id map(Meter.Id id) { return id.getName().equals("system.cpu.count") ? id.withName("system.cpus") : id; }
        });
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            FunctionCounter.builder("process.cpu", os, bean -> bean.getProcessCpuTime() / 1e9).baseUnit("seconds")
                    .description("CPU time used by the JVM process").register(registry);
        }
        LayerDao layers = database.dao(LayerDao.class);
        UploadDao uploads = database.dao(UploadDao.class);
        gauge("strata.layers.stored", null, "Layers stored", layers, LayerDao::count);
        gauge("strata.layers.stored.bytes", "bytes", "Bytes of the layers stored", layers, LayerDao::totalBytes);
        gauge("strata.images", null, "Images the index lists (published, chain complete)", catalog,
                service -> service.snapshot().images().size());
        gauge("strata.catalog.generation", null, "The catalog generation the index documents are rendered from", catalog,
                CatalogService::generation);
        gauge("strata.uploads.open", null, "Resumable upload sessions open", uploads, UploadDao::countAll);

        new ClassLoaderMetrics().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new JvmInfoMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
    }

    private <T> void gauge(String name, String unit, String description, T source, ToDoubleFunction<T> value) {
        Gauge.builder(name, source, value).baseUnit(unit).description(description).strongReference(true).register(registry);
    }

    /** The meters of every request, labelled by the templates of {@code routes}; for the server's request log. */
    public RequestMetrics requests(RouteTemplates routes) { return new RequestMetrics(registry, routes); }

    /** Counts the access-log lines its writer had to drop ({@code strata_access_log_dropped_total}). */
    void countDrops(AsyncLineWriter writer) {
        FunctionCounter.builder("strata.access.log.dropped", writer, AsyncLineWriter::dropped)
                .description("Access-log lines dropped because the writer fell behind").register(registry);
    }

    /** Every meter in the Prometheus text format ({@link #CONTENT_TYPE}). */
    public String scrape() { return registry.scrape(); }

    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
