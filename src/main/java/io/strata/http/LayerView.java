package io.strata.http;

import io.strata.layer.Digest;
import io.strata.layer.LayerRecord;

/** A layer as the JSON API shows it. */
record LayerView(String digest, long size, long virtualSize, String parent, String path, String created) {
    static LayerView of(LayerRecord record) {
        return new LayerView(record.digest().hex(), record.size(), record.virtualSize(),
                record.parent().map(Digest::hex).orElse(null), "layers/" + record.digest().fileName(), record.createdAt().toString());
    }
}
