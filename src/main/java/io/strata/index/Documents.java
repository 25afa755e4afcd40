package io.strata.index;

/** The three index documents of one catalog state, rendered together from one snapshot. */
public record Documents(long generation, Document index, Document streamsIndex, Document streamsImages, int hiddenImages) {}
