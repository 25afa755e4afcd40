package io.strata.http;

import io.strata.http.ByteRanges.Range;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

class ByteRangesTest {
    private static final long SIZE = 1000;

    /** header | expected: IGNORE, UNSATISFIABLE, or the ranges as first-last;first-last */
    @ParameterizedTest(name = "[{index}] Range: {0} on 1000 bytes -> {1}")
    @CsvSource(delimiter = '|', value = {
            "bytes=0-0            | 0-0",
            "bytes=0-499          | 0-499",
            "bytes=500-           | 500-999",
            "bytes=-200           | 800-999",
            "bytes=-5000          | 0-999",
            "bytes=990-5000       | 990-999",
            "bytes=999-999        | 999-999",
            "BYTES=1-2            | 1-2",
            "bytes= 1-2 , 5-6     | 1-2;5-6",
            "bytes=0-1,,4-5       | 0-1;4-5",
            "bytes=1000-          | UNSATISFIABLE",
            "bytes=1000-2000      | UNSATISFIABLE",
            "bytes=-0             | UNSATISFIABLE",
            "bytes=5000-,6000-7000| UNSATISFIABLE",
            "bytes=5000-,10-19    | 10-19",
            "bytes=99999999999999999999- | UNSATISFIABLE",
            "bytes=0-99999999999999999999 | 0-999",
            "bytes=5-4            | IGNORE",
            "bytes=abc            | IGNORE",
            "bytes=-              | IGNORE",
            "bytes=1-2-3          | IGNORE",
            "bytes=+1-2           | IGNORE",
            "bytes=0x10-20        | IGNORE",
            "items=0-10           | IGNORE",
            "bytes                | IGNORE",
            "bytes=               | IGNORE",
    })
    void resolves_range_headers_as_rfc_9110_says(String header, String expected) {
        ByteRanges.Outcome outcome = ByteRanges.parse(header, SIZE);
        switch (expected) {
            case "IGNORE" -> assertInstanceOf(ByteRanges.Ignore.class, outcome);
            case "UNSATISFIABLE" -> assertInstanceOf(ByteRanges.Unsatisfiable.class, outcome);
            default -> {
                ByteRanges.Satisfiable satisfiable = assertInstanceOf(ByteRanges.Satisfiable.class, outcome);
                assertEquals(expected, satisfiable.ranges().stream().map(r -> r.first() + "-" + r.last()).collect(Collectors.joining(";")));
            }
        }
    }

    @Test
    void an_absent_header_is_ignored() {
        assertInstanceOf(ByteRanges.Ignore.class, ByteRanges.parse(null, SIZE));
    }

    @Test
    void nothing_is_satisfiable_in_an_empty_representation() {
        assertInstanceOf(ByteRanges.Unsatisfiable.class, ByteRanges.parse("bytes=0-", 0));
        assertInstanceOf(ByteRanges.Unsatisfiable.class, ByteRanges.parse("bytes=-10", 0));
    }

    @Test
    void too_many_ranges_are_refused_not_served() {
        String header = "bytes=" + "0-0,".repeat(ByteRanges.MAX_RANGES) + "1-1";
        assertInstanceOf(ByteRanges.TooMany.class, ByteRanges.parse(header, SIZE));
    }

    @Test
    void as_many_ranges_as_the_limit_are_served() {
        String header = "bytes=" + java.util.stream.IntStream.range(0, ByteRanges.MAX_RANGES)
                .mapToObj(i -> i * 10 + "-" + (i * 10 + 1)).collect(java.util.stream.Collectors.joining(","));
        ByteRanges.Outcome outcome = ByteRanges.parse(header, SIZE);
        assertInstanceOf(ByteRanges.Satisfiable.class, outcome);
        assertEquals(ByteRanges.MAX_RANGES, ((ByteRanges.Satisfiable) outcome).ranges().size());
    }

    @Test
    void more_than_two_overlapping_ranges_are_refused_not_served() {
        assertInstanceOf(ByteRanges.Overlapping.class, ByteRanges.parse("bytes=0-,0-,0-", SIZE));
        assertInstanceOf(ByteRanges.Overlapping.class, ByteRanges.parse("bytes=0-99,50-149,100-199", SIZE));
        assertInstanceOf(ByteRanges.Overlapping.class, ByteRanges.parse("bytes=0-999,10-19,500-509,900-909", SIZE));
    }

    @Test
    void two_overlapping_ranges_or_many_disjoint_ones_are_served() {
        assertInstanceOf(ByteRanges.Satisfiable.class, ByteRanges.parse("bytes=0-99,50-149", SIZE));
        assertInstanceOf(ByteRanges.Satisfiable.class, ByteRanges.parse("bytes=0-99,50-149,500-599", SIZE));
        assertInstanceOf(ByteRanges.Satisfiable.class, ByteRanges.parse("bytes=900-909,0-9,100-109,200-209", SIZE));
    }

    @Test
    void a_range_reports_its_content_range() {
        assertEquals("bytes 10-19/1000", new Range(10, 19).contentRange(SIZE));
        assertEquals(List.of(new Range(0, 9)), ((ByteRanges.Satisfiable) ByteRanges.parse("bytes=0-9", SIZE)).ranges());
    }
}
