//! Reading the fastjson dialect (spec §1.7): unquoted integer map keys, object map keys.
