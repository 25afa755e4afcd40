package io.strata.http;

import io.strata.audit.AuditLog;
import io.strata.auth.TokenService;
import io.strata.catalog.CatalogService;
import io.strata.db.Database;
import io.strata.gc.GarbageCollector;
import io.strata.index.IndexService;
import io.strata.layer.LayerService;
import io.strata.upload.UploadService;

/** What the routes call into; built once by {@link io.strata.StrataServer}. */
public record Services(Database database, LayerService layers, UploadService uploads, TokenService tokens,
                       CatalogService catalog, IndexService index, GarbageCollector gc, AuditLog audit) {}
