package io.strata.metrics;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** A parsed {@code /metrics} answer: each sample line as its name, its labels and its value. */
record Scrape(String text, List<Sample> samples) {
    record Sample(String name, Map<String, String> labels, double value) {}

    static Scrape parse(String text) {
        List<Sample> samples = text.lines().filter(line -> !line.isBlank() && !line.startsWith("#")).map(Scrape::sample).toList();
        return new Scrape(text, samples);
    }

    /** The value of the one sample with this name and these labels (others allowed), 0 when there is none. */
    double value(String name, String... labels) {
        Map<String, String> wanted = pairs(labels);
        List<Sample> found = samples.stream().filter(s -> s.name.equals(name) && s.labels.entrySet().containsAll(wanted.entrySet())).toList();
        if (found.size() > 1) throw new AssertionError(found.size() + " samples of " + name + " " + wanted + ": " + found);
        return found.isEmpty() ? 0 : found.get(0).value;
    }

    List<Sample> named(String name) { return samples.stream().filter(s -> s.name.equals(name)).toList(); }

    private static Map<String, String> pairs(String... labels) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < labels.length; i += 2) map.put(labels[i], labels[i + 1]);
        return map;
    }

    /** {@code name{a="x",b="y"} value}: label values may hold escaped quotes and backslashes. */
    private static Sample sample(String line) {
        int brace = line.indexOf('{');
        int space = line.lastIndexOf(' ');
        if (brace < 0 || brace > space) return new Sample(line.substring(0, space), Map.of(), number(line.substring(space + 1)));
        String name = line.substring(0, brace);
        Map<String, String> labels = new TreeMap<>();
        int i = brace + 1;
        while (line.charAt(i) != '}') {
            int equals = line.indexOf('=', i);
            String key = line.substring(i, equals);
            StringBuilder value = new StringBuilder();
            int j = equals + 2;
            for (; line.charAt(j) != '"'; j++) {
                if (line.charAt(j) == '\\') j++;
                value.append(line.charAt(j));
            }
            labels.put(key, value.toString());
            i = j + 1;
            if (line.charAt(i) == ',') i++;
        }
        return new Sample(name, labels, number(line.substring(line.indexOf(' ', i) + 1).strip()));
    }

    private static double number(String text) {
        return switch (text) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            default -> Double.parseDouble(text);
        };
    }
}
