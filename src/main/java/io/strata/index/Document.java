package io.strata.index;

/** A rendered document held in memory: its bytes, the same gzipped, and a strong ETag for each. */
public record Document(String contentType, byte[] body, byte[] gzipped, String etag, String gzipEtag) {}
