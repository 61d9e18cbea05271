-- A VK default address (`id741007307`, also typed as a link or `@id…`) is the
-- user's numeric id. It used to be stored as a screen name, where an appeal
-- with the numeric id (the Callback API's from_id) never found it; it is a
-- `vk_id` now, as the normaliser makes it.
DELETE FROM contact_points
WHERE kind = 'vk_screen_name'
  AND value GLOB 'id[1-9]*' AND substr(value, 3) NOT GLOB '*[^0-9]*' AND length(value) <= 20
  AND EXISTS (SELECT 1 FROM contact_points o
              WHERE o.client_id = contact_points.client_id
                AND o.kind = 'vk_id' AND o.value = substr(contact_points.value, 3));
UPDATE contact_points SET kind = 'vk_id', value = substr(value, 3)
WHERE kind = 'vk_screen_name'
  AND value GLOB 'id[1-9]*' AND substr(value, 3) NOT GLOB '*[^0-9]*' AND length(value) <= 20;
